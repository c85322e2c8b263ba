"""The notebook's CIFAR-10 CNN: three conv-ReLU-pool blocks and two linear layers.

`precision` is that of every convolution and GEMM (fp32 or bf16, core/precision.py).
Dimension letters: B images, H/W height/width, C channels.
"""

from flax import linen as nn

from hw2_jax.core import precision as precision_lib
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
