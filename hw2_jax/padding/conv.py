"""The padded convolution, once for all six padding types of the study, as a pure function.

`conv_type` names follow the assignment: `valid` (no padding), `sconv` (zero pad 1, "same"),
`fconv` (zero pad 2, "full"), and `reflect`, `replicate`, `circular` (PyTorch's padding_mode,
pad 2): reflect mirrors without repeating the edge pixel, replicate repeats the edge pixel,
circular wraps around.

The convolution is one GEMM over im2col patches with a hand-written VJP: the weight gradient
is one GEMM and the input gradient one GEMM plus a col2im built from shifted adds and an
interleave, instead of the scatter-like pads that autodiff of strided slices produces. On
XLA:CPU this is many times faster than `lax.conv_general_dilated` and its transposes (see
benchmarks/); `reference_conv` keeps the plain XLA convolution to test against.
"""

import functools

import jax
import jax.numpy as jnp

# conv_type -> (jnp.pad mode, pad width)
PADDINGS = {
    "valid": ("constant", 0),
    "sconv": ("constant", 1),
    "fconv": ("constant", 2),
    "reflect": ("reflect", 2),
    "replicate": ("edge", 2),
    "circular": ("wrap", 2),
}
CONV_TYPES = tuple(PADDINGS)
KERNEL = 3


def pad(x_NHWC: jax.Array, conv_type: str) -> jax.Array:
  mode, width = PADDINGS[conv_type]
  if width == 0:
    return x_NHWC
  return jnp.pad(x_NHWC, ((0, 0), (width, width), (width, width), (0, 0)), mode=mode)


def output_size(size: int, conv_type: str, stride: int, kernel: int = KERNEL) -> int:
  return (size + 2 * PADDINGS[conv_type][1] - kernel) // stride + 1


def _patches(x_NHWC, stride):
  """N x H x W x C -> N x Ho x Wo x (3*3*C), taps in (di, dj, c) order like an HWIO kernel."""
  n, h, w, c = x_NHWC.shape
  ho, wo = (h - KERNEL) // stride + 1, (w - KERNEL) // stride + 1
  taps = [
      jax.lax.slice(x_NHWC, (0, di, dj, 0),
                    (n, di + stride * (ho - 1) + 1, dj + stride * (wo - 1) + 1, c),
                    (1, stride, stride, 1))
      for di in range(KERNEL) for dj in range(KERNEL)]
  return jnp.concatenate(taps, axis=-1)


def _overlap_add(t, size, stride):
  """Adjoint of taking taps along axis 1: t is N x O x K x ..., output N x size x ...

  Tap k of output position o lands on input position stride * o + k.
  """
  n, o = t.shape[:2]
  rest = t.shape[3:]
  zeros = lambda lo, hi: [(0, 0), (lo, hi)] + [(0, 0)] * len(rest)
  if stride == 1:
    return sum(jnp.pad(t[:, :, k], zeros(k, size - o - k)) for k in range(KERNEL))
  # stride 2, kernel 3: even rows get taps 0 and 2 (shifted by one output), odd rows tap 1.
  even = jnp.pad(t[:, :, 0], zeros(0, 1)) + jnp.pad(t[:, :, 2], zeros(1, 0))
  odd = jnp.pad(t[:, :, 1], zeros(0, 1))
  both = jnp.stack([even, odd], axis=2).reshape(n, 2 * (o + 1), *rest)
  return both[:, :size]


def _col2im(dp_NHoWoK, stride, h, w):
  n, ho, wo, k = dp_NHoWoK.shape
  taps = dp_NHoWoK.reshape(n, ho, wo, KERNEL, KERNEL, k // KERNEL**2)
  rows = _overlap_add(taps.transpose(0, 1, 3, 2, 4, 5), h, stride)   # N x H x Wo x 3 x C
  cols = _overlap_add(rows.transpose(0, 2, 3, 1, 4), w, stride)     # N x W x H x C
  return cols.transpose(0, 2, 1, 3)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def valid_conv(x_NHWC: jax.Array, w_HWIO: jax.Array, stride: int) -> jax.Array:
  """VALID 3x3 cross-correlation as one GEMM (torch.nn.Conv2d with padding 0)."""
  return _valid_conv_fwd(x_NHWC, w_HWIO, stride)[0]


def _valid_conv_fwd(x_NHWC, w_HWIO, stride):
  p_NHoWoK = _patches(x_NHWC, stride)
  y = jnp.einsum("nhwk,ko->nhwo", p_NHoWoK, w_HWIO.reshape(-1, w_HWIO.shape[-1]))
  return y, (p_NHoWoK, w_HWIO, x_NHWC.shape)


def _valid_conv_bwd(stride, residuals, dy_NHoWoO):
  p_NHoWoK, w_HWIO, shape = residuals
  w_KxO = w_HWIO.reshape(-1, w_HWIO.shape[-1])
  dw = jnp.einsum("nhwk,nhwo->ko", p_NHoWoK, dy_NHoWoO).reshape(w_HWIO.shape)
  dp_NHoWoK = jnp.einsum("nhwo,ko->nhwk", dy_NHoWoO, w_KxO)
  return _col2im(dp_NHoWoK, stride, shape[1], shape[2]), dw


valid_conv.defvjp(_valid_conv_fwd, _valid_conv_bwd)


def padded_conv(x_NHWC: jax.Array, w_HWIO: jax.Array, stride: int, conv_type: str) -> jax.Array:
  """Pads as `conv_type` says, then a VALID 3x3 cross-correlation (as torch.nn.Conv2d)."""
  return valid_conv(pad(x_NHWC, conv_type), w_HWIO, stride)


def reference_conv(x_NHWC, w_HWIO, stride: int, conv_type: str) -> jax.Array:
  """The same with XLA's convolution: the reference for tests and benchmarks."""
  return jax.lax.conv_general_dilated(
      pad(x_NHWC, conv_type), w_HWIO, (stride, stride), "VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"))
