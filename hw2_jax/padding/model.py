"""The two 4-layer CNNs of the padding study.

Four bias-free 3x3 convolutions (3-32-32-64-64 channels, strides 1, 2, 2, 2), ReLU after each,
padded as `conv_type` says. Images come in and features go out channel-last (N x H x W x C);
inside the feature extractor activations are C x H x W x N (see conv.py). Net1 reads out with
a global max-pool and Linear(64, 2); Net2 with flatten (in H, W, C order), Linear(64*s*s, 64)
and Linear(64, 2), no activation between. `precision` is that of every GEMM (fp32 or bf16,
core/precision.py).

Dimension letters: N images, C/O input/output channels, H/W height/width, S seeds.
"""

import jax.numpy as jnp
from flax import linen as nn

from hw2_jax.core.init import TorchDense, torch_weight_init
from hw2_jax.padding.conv import PADDINGS, mode_of, output_size, padded_conv_as

CHANNELS = (32, 32, 64, 64)
STRIDES = (1, 2, 2, 2)
NETS = ("Net1", "Net2")


class PaddedConv(nn.Module):
  features: int
  stride: int
  width: int
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_CHWN, mode):
    w_HWIO = self.param("kernel", torch_weight_init, (3, 3, x_CHWN.shape[0], self.features))
    return padded_conv_as(x_CHWN, w_HWIO, self.stride, self.width, mode, self.precision)


class Features(nn.Module):
  width: int
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_NHWC, mode):
    x_CHWN = x_NHWC.transpose(3, 1, 2, 0)
    for features, stride in zip(CHANNELS, STRIDES):
      conv = PaddedConv(features, stride, self.width, self.precision)
      x_CHWN = nn.relu(conv(x_CHWN, mode))
    return x_CHWN.transpose(3, 1, 2, 0)


class _Net(nn.Module):
  """A net of one padding width; the padding's mode is an input (`mode`, data), or, when the
  net was made for one padding type (`conv_type`), that type's."""

  width: int
  precision: str = "fp32"
  conv_type: str | None = None

  def _mode(self, mode):
    return jnp.int32(mode_of(self.conv_type)) if mode is None else mode


class Net1(_Net):
  """Global max-pool head: translation invariant, so only relative position can be used."""

  @nn.compact
  def __call__(self, x_NHWC, mode=None):
    h_NxC = Features(self.width, self.precision)(x_NHWC, self._mode(mode)).max(axis=(1, 2))
    return TorchDense(2, precision=self.precision)(h_NxC)


class Net2(_Net):
  """Dense head over the flattened feature map: can read absolute position."""

  @nn.compact
  def __call__(self, x_NHWC, mode=None):
    h = Features(self.width, self.precision)(x_NHWC, self._mode(mode))
    h_NxD = h.reshape(x_NHWC.shape[0], -1)
    dense = lambda n: TorchDense(n, precision=self.precision)
    return dense(2)(dense(64)(h_NxD))


def make_net(net: str, conv_type: str, precision: str = "fp32", shared: bool = False):
  """Net `net` padded as `conv_type`. `shared`: the net of the padding's width with the mode
  as an input, the same (and so one compiled program) for every padding of that width."""
  width = PADDINGS[conv_type][1]
  return {"Net1": Net1, "Net2": Net2}[net](width, precision, None if shared else conv_type)


def final_size(conv_type: str, size: int = 32) -> int:
  """s of Net2's Linear(64*s*s, 64): 2, 4, 6 for valid, sconv and the pad-2 types."""
  for stride in STRIDES:
    size = output_size(size, conv_type, stride)
  return size
