"""The notebook's CIFAR-10 CNN and its C4-equivariant counterpart (`C4CNN`).

`precision` is that of every convolution and GEMM (fp32 or bf16, core/precision.py).
Dimension letters: B images, H/W height/width, C channels, 4 the rotations of C4 (0, 90, 180
and 270 degrees counter-clockwise, the sense of `np.rot90(x, k, axes=(1, 2))`).
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from hw2_jax.core import precision as precision_lib
from hw2_jax.core.errors import check_choice
from hw2_jax.core.init import TorchDense, torch_bias_init, torch_weight_init


def max_pool_2x2(x_BxHxWxC):
  """2x2/2 max-pool as a reshape and max: same values as nn.max_pool, and its gradient
  (a mask, split between exact ties) trains about 1.7x faster on CPU than the
  select-and-scatter of nn.max_pool's."""
  b, h, w, c = x_BxHxWxC.shape
  return x_BxHxWxC.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class ConvBlock(nn.Module):
  features: int
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_BxHxWxC):
    fan_in = 3 * 3 * x_BxHxWxC.shape[-1]
    x = nn.Conv(
      self.features,
      (3, 3),
      padding=1,
      kernel_init=torch_weight_init,
      bias_init=torch_bias_init(fan_in),
      conv_general_dilated=precision_lib.conv_general_dilated(self.precision),
    )(x_BxHxWxC)
    return max_pool_2x2(nn.relu(x))


class CNN(nn.Module):
  num_classes: int = 10
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_Bx32x32x3):
    x = ConvBlock(32, self.precision)(x_Bx32x32x3)
    x = ConvBlock(64, self.precision)(x)
    x_Bx4x4x64 = ConvBlock(64, self.precision)(x)
    x_Bx1024 = x_Bx4x4x64.reshape(x_Bx4x4x64.shape[0], -1)
    x_Bx64 = nn.relu(TorchDense(64, precision=self.precision)(x_Bx1024))
    return TorchDense(self.num_classes, precision=self.precision)(x_Bx64)


# C4 (Cohen & Welling, "Group Equivariant Convolutional Networks", ICML 2016). A feature map on
# C4 is x_BxHxWxCx4: channel c seen at rotation r is x[..., c, r], rotation minor, so that its
# flat view B x H x W x (C * 4) is what one XLA convolution reads and writes. Turning the image
# by 90 degrees turns every map and shifts the rotation axis by one (`rotate_c4`); every layer
# commutes with that, and the readout forgets it.


def rotate_c4(x_BxHxWxCx4, k: int = 1):
  """How a map on C4 moves when the image turns by k * 90 degrees: each rotation's map turns
  by k * 90 degrees and rotation r takes the place of r + k (Cohen & Welling's L_g)."""
  return jnp.roll(jnp.rot90(x_BxHxWxCx4, k, axes=(1, 2)), k, axis=-1)


def lifting_kernel(w_3x3xCxO):
  """The lifting convolution's kernel for all 4 output rotations at once: 3 x 3 x C x (O * 4),
  output rotation r correlating with the kernel turned by r * 90 degrees."""
  w_4x3x3xCxO = jnp.stack([jnp.rot90(w_3x3xCxO, r) for r in range(4)])
  return jnp.moveaxis(w_4x3x3xCxO, 0, -1).reshape(*w_3x3xCxO.shape[:-1], -1)


def group_kernel(w_3x3xCx4xO):
  """The group convolution's kernel for all 4 output rotations at once: 3 x 3 x (C * 4) x (O * 4).

  Output rotation r correlates input rotation s with the learned kernel of relative rotation
  s - r, turned by r * 90 degrees: psi(R^-r q, s - r), the kernel transformed by the group
  element r (a cyclic shift of the input-rotation axis plus a spatial turn)."""
  w_4x3x3xCx4xO = jnp.stack([jnp.rot90(jnp.roll(w_3x3xCx4xO, r, axis=3), r) for r in range(4)])
  c, o = w_3x3xCx4xO.shape[2], w_3x3xCx4xO.shape[-1]
  return jnp.moveaxis(w_4x3x3xCx4xO, 0, -1).reshape(3, 3, c * 4, o * 4)


class C4Conv(nn.Module):
  """A 3x3 convolution, pad 1, on C4: lifting (`lifting=True`, input B x H x W x C, an image)
  or group (input x_BxHxWxCx4); output x_BxHxWxOx4.

  One XLA convolution with the learned kernel stacked over the 4 rotations (`lifting_kernel`,
  `group_kernel`): one GEMM-sized program per layer, not four small ones, and it vmaps over
  seeds as nn.Conv does. The bias is per output channel, shared by the 4 rotations (a bias
  per rotation would break equivariance). PyTorch's default init with the stacked kernel's
  fan-in, 9 * C for lifting and 9 * C * 4 for group convolutions: the learned kernel is
  3 x 3 x C (x 4) x O, whose fan-in Flax computes as the product of all but the last axis.
  """

  features: int
  lifting: bool = False
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x):
    b, h, w = x.shape[:3]
    in_shape = x.shape[3:]  # (C,) for an image, (C, 4) on C4
    kernel = self.param("kernel", torch_weight_init, (3, 3, *in_shape, self.features))
    bias = self.param(
      "bias", torch_bias_init(9 * in_shape[0] * (1 if self.lifting else 4)), (self.features,)
    )
    stacked_3x3xIxO4 = lifting_kernel(kernel) if self.lifting else group_kernel(kernel)
    y_BxHxWxO4 = precision_lib.conv_general_dilated(self.precision)(
      x.reshape(b, h, w, -1),
      stacked_3x3xIxO4,
      (1, 1),
      ((1, 1), (1, 1)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    return y_BxHxWxO4.reshape(b, h, w, self.features, 4) + bias[:, None]


def invariant_pool(x_BxHxWxCx4):
  """max over r of rotation r's map turned back by r * 90 degrees: x_BxHxWxC, invariant.

  If F(Rx) = rotate_c4(F(x)), i.e. F(Rx)(., r) = R F(x)(., r - 1), the back-turned maps of
  Rx are those of x in another order, so the max is the same. A plain max over the rotation
  axis would not be: the H x W map itself turns with the image.
  """
  return jnp.stack([jnp.rot90(x_BxHxWxCx4[..., r], -r, axes=(1, 2)) for r in range(4)]).max(0)


def relu_pool_c4(x_BxHxWxCx4):
  """The plain CNN's ReLU and 2x2 max-pool, per channel and rotation: both commute with rot90
  (the pool on even sizes, as 32, 16 and 8 are)."""
  b, h, w, c, _ = x_BxHxWxCx4.shape
  x_BxHxWxC4 = nn.relu(x_BxHxWxCx4).reshape(b, h, w, c * 4)
  return max_pool_2x2(x_BxHxWxC4).reshape(b, h // 2, w // 2, c, 4)


C4_WIDTHS = (8, 18, 64)  # lifting, group, group: see C4CNN


class C4CNN(nn.Module):
  """The notebook CNN with its convolutions lifted to C4: logits invariant under rot90.

  A lifting conv and two group convs (`C4Conv`), each followed by the plain CNN's ReLU and
  2x2 max-pool, then `invariant_pool` to 4 x 4 x 64 and the plain CNN's dense head.

  Widths `C4_WIDTHS` = (8, 18, 64): the dense head stays the plain CNN's (66,250 parameters),
  each layer has at least as many maps (4 x width) as the plain CNN's (32, 64, 64), widths are
  even; of such widths within 10% of the plain CNN's 122,570 parameters, these have the fewest
  convolution FLOPs: 113,212 parameters (92.4%), 16.8M multiply-adds per image, 2.11x the
  plain CNN's 7.96M (a group conv uses each weight 4 times). (16, 16, 64): 112,858 and 2.59x.
  """

  num_classes: int = 10
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_Bx32x32x3):
    c1, c2, c3 = C4_WIDTHS
    x = relu_pool_c4(C4Conv(c1, lifting=True, precision=self.precision)(x_Bx32x32x3))
    x = relu_pool_c4(C4Conv(c2, precision=self.precision)(x))
    x_Bx4x4x64x4 = relu_pool_c4(C4Conv(c3, precision=self.precision)(x))
    x_Bx4x4x64 = invariant_pool(x_Bx4x4x64x4)
    x_Bx1024 = x_Bx4x4x64.reshape(x_Bx4x4x64.shape[0], -1)
    x_Bx64 = nn.relu(TorchDense(64, precision=self.precision)(x_Bx1024))
    return TorchDense(self.num_classes, precision=self.precision)(x_Bx64)


# The study's model names: the training kind (augmentation or not) does not change the net.
MODELS = {"plain": CNN, "augmented": CNN, "c4": C4CNN, "c4-augmented": C4CNN}


def make_model(name: str, precision: str = "fp32") -> nn.Module:
  """The network of a study model `name` at `precision` (fp32 or bf16)."""
  check_choice("model", name, MODELS)
  return MODELS[name](precision=precision)


def num_params(params, stacked: bool = False) -> int:
  """The parameter count of one model; `stacked`: `params` hold several (the seeds) along the
  leading axis of every leaf."""
  return sum(leaf.size // (leaf.shape[0] if stacked else 1) for leaf in jax.tree.leaves(params))


def footprint(name: str) -> tuple[int, int]:
  """(parameters, float32 values its layers output for one 32 x 32 image) of model `name`,
  from its shapes alone (no compile, no FLOP): the sizes the memory estimate scales."""
  model = make_model(name)

  def outputs(x_1x32x32x3):
    variables = model.init(jax.random.key(0), x_1x32x32x3)
    _, kept = model.apply(variables, x_1x32x32x3, capture_intermediates=True)
    return variables["params"], kept["intermediates"]

  params, layers = jax.eval_shape(outputs, jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32))
  return num_params(params), sum(leaf.size for leaf in jax.tree.leaves(layers))
