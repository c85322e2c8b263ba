"""The two 4-layer CNNs of the padding study.

Four bias-free 3x3 convolutions (3-32-32-64-64 channels, strides 1, 2, 2, 2), ReLU after each,
padded as `conv_type` says. Images come in and features go out channel-last (N x H x W x C);
inside the feature extractor activations are C x H x W x N (see conv.py). Net1 reads out with
a global max-pool and Linear(64, 2); Net2 with flatten (in H, W, C order), Linear(64*s*s, 64)
and Linear(64, 2), no activation between. `precision` is that of every GEMM (fp32 or bf16,
core/precision.py).

Dimension letters: N images, C/O input/output channels, H/W height/width, S seeds.
"""

from flax import linen as nn

from hw2_jax.core.init import TorchDense, torch_weight_init
from hw2_jax.padding.conv import output_size, padded_conv

CHANNELS = (32, 32, 64, 64)
STRIDES = (1, 2, 2, 2)
NETS = ("Net1", "Net2")


class PaddedConv(nn.Module):
  features: int
  stride: int
  conv_type: str
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_CHWN):
    w_HWIO = self.param("kernel", torch_weight_init, (3, 3, x_CHWN.shape[0], self.features))
    return padded_conv(x_CHWN, w_HWIO, self.stride, self.conv_type, self.precision)


class Features(nn.Module):
  conv_type: str
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_NHWC):
    x_CHWN = x_NHWC.transpose(3, 1, 2, 0)
    for features, stride in zip(CHANNELS, STRIDES):
      x_CHWN = nn.relu(PaddedConv(features, stride, self.conv_type, self.precision)(x_CHWN))
    return x_CHWN.transpose(3, 1, 2, 0)


class Net1(nn.Module):
  """Global max-pool head: translation invariant, so only relative position can be used."""

  conv_type: str
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_NHWC):
    h_NxC = Features(self.conv_type, self.precision)(x_NHWC).max(axis=(1, 2))
    return TorchDense(2, precision=self.precision)(h_NxC)


class Net2(nn.Module):
  """Dense head over the flattened feature map: can read absolute position."""

  conv_type: str
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x_NHWC):
    h_NxD = Features(self.conv_type, self.precision)(x_NHWC).reshape(x_NHWC.shape[0], -1)
    dense = lambda n: TorchDense(n, precision=self.precision)
    return dense(2)(dense(64)(h_NxD))


def make_net(net: str, conv_type: str, precision: str = "fp32") -> nn.Module:
  return {"Net1": Net1, "Net2": Net2}[net](conv_type, precision)


def final_size(conv_type: str, size: int = 32) -> int:
  """s of Net2's Linear(64*s*s, 64): 2, 4, 6 for valid, sconv and the pad-2 types."""
  for stride in STRIDES:
    size = output_size(size, conv_type, stride)
  return size
