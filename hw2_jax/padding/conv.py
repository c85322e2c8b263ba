"""The padded convolution, once for all six padding types of the study, as a pure function.

`conv_type` names follow the assignment: `valid` (no padding), `sconv` (zero pad 1, "same"),
`fconv` (zero pad 2, "full"), and `reflect`, `replicate`, `circular` (PyTorch's padding_mode,
pad 2): reflect mirrors without repeating the edge pixel, replicate repeats the edge pixel,
circular wraps around.

Activations are C x H x W x N (channels major, batch minor, the cuda-convnet layout): padding
and the im2col slices move whole rows of N contiguous values, the patches come out as the K x M
operand of one GEMM (K = 3*3*C taps, M = Ho*Wo*N output positions) with no transpose, and the
output is again C x H x W x N. Channel-last (NHWC) was measured slower on XLA:CPU: its im2col
concatenates along the minor axis and its pads and transposes dominated the step (see
benchmarks/ and docs/performance.md). The VJP is hand-written: the weight gradient is one GEMM, ordered
(O x M)(M x K) so that XLA transposes the plain patches rather than fusing the whole input
gradient of the next layer into a transposing copy (5x slower under `jax.vmap`), and the input
gradient is one GEMM plus a col2im that adds the nine taps back per stride phase. The padding
has its own VJP (`pad`), which adds the borders back in place. `reference_conv` is XLA's own
convolution on `jnp_pad`, to test against.

`precision` (core/precision.py) sets the operands of the three GEMMs: `fp32`, or `bf16` with
float32 accumulation, in which case the patches are built from a bfloat16 input (half the
im2col traffic) and kept for the backward pass in bfloat16; col2im and padding stay float32.
"""

import collections
import functools
import itertools

import jax
import jax.numpy as jnp

from hw2_jax.core import precision as precision_lib

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
MODES = ("constant", "reflect", "edge", "wrap")  # jnp.pad's names; an index into it is data
KERNEL = 3
# The weight-gradient GEMM gets its K rows zero-padded to a multiple of this: with the first
# layer's K = 27 it ran at 67 GFLOP/s, with 32 at 109 (XLA:CPU's YNNPACK GEMM, 2-core sandbox).
DW_ROWS_MULTIPLE = 8


def jnp_pad(x_CHWN: jax.Array, conv_type: str) -> jax.Array:
  """Pads the two spatial (middle) axes as `conv_type` says, with jnp.pad and its autodiff."""
  mode, width = PADDINGS[conv_type]
  if width == 0:
    return x_CHWN
  return jnp.pad(x_CHWN, ((0, 0), (width, width), (width, width), (0, 0)), mode=mode)


def pad(x_CHWN: jax.Array, conv_type: str) -> jax.Array:
  """`jnp_pad` with a hand-written VJP that adds each border back onto the rows it copied
  (`pad_as` with the padding's width and mode).

  jnp.pad's own transpose builds full-size tensors for each border (four extra passes over
  the padded gradient for `replicate`); here every border is a few rows added in place.
  """
  return pad_as(x_CHWN, jnp.int32(mode_of(conv_type)), PADDINGS[conv_type][1])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def pad_as(x_CHWN: jax.Array, mode: jax.Array, width: int) -> jax.Array:
  """Pads the spatial axes by `width` in MODES[mode]. `mode` is data (an int32 the program
  branches on, `lax.switch`), not part of the program: every padding of one width trains with
  one compiled program (fconv, reflect, replicate and circular all pad by 2)."""
  return _pad_as(x_CHWN, mode, width)


def _pad_as(x_CHWN, mode, width):
  if width == 0:
    return x_CHWN
  pads = ((0, 0), (width, width), (width, width), (0, 0))
  branches = [functools.partial(jnp.pad, pad_width=pads, mode=m) for m in MODES]
  return jax.lax.switch(mode, branches, x_CHWN)


def _fold_borders(g, axis, mode, width):
  """Adjoint of padding `axis` by `width` in `mode`: the core plus each border where it came from.

  The borders are added in place (dynamic-update-slices of a few rows), not as full-size pads,
  so XLA neither materializes nor re-evaluates the whole gradient once per border.
  """
  n = g.shape[axis] - 2 * width
  take = lambda x, start, stop: jax.lax.slice_in_dim(x, start, stop, axis=axis)
  core = take(g, width, width + n)
  if mode == "constant":
    return core
  low, high = take(g, 0, width), take(g, width + n, n + 2 * width)

  def add_at(x, part, start):  # x with `part` added to rows start, start + 1, ... of `axis`
    rows = take(x, start, start + part.shape[axis]) + part
    return jax.lax.dynamic_update_slice_in_dim(x, rows, start, axis)

  if mode == "edge":  # every low border row copied row 0, every high one row n - 1
    return add_at(
      add_at(core, low.sum(axis, keepdims=True), 0), high.sum(axis, keepdims=True), n - 1
    )
  if mode == "reflect":  # low row i copied row width - i, high row i copied row n - 2 - i
    return add_at(
      add_at(core, jax.lax.rev(low, (axis,)), 1), jax.lax.rev(high, (axis,)), n - 1 - width
    )
  if mode == "wrap":  # low row i copied row n - width + i, high row i copied row i
    return add_at(add_at(core, low, n - width), high, 0)
  raise ValueError(f"unknown padding mode {mode!r}")


def _pad_as_fwd(x_CHWN, mode, width):
  return _pad_as(x_CHWN, mode, width), mode


def _pad_as_bwd(width, mode, g_CHWN):
  if width == 0:
    return g_CHWN, None
  fold = lambda m, g: _fold_borders(_fold_borders(g, 1, m, width), 2, m, width)
  branches = [functools.partial(fold, m) for m in MODES]
  return jax.lax.switch(mode, branches, g_CHWN), None


pad_as.defvjp(_pad_as_fwd, _pad_as_bwd)


def output_size(size: int, conv_type: str, stride: int, kernel: int = KERNEL) -> int:
  return (size + 2 * PADDINGS[conv_type][1] - kernel) // stride + 1


def _patches(x_CHWN, stride):
  """C x H x W x N -> (3*3*C) x (Ho*Wo*N), rows in (di, dj, c) order like an HWIO kernel.

  Concatenated in two levels of three (dj along channels, then di along a new leading axis):
  XLA:CPU fuses producers only into concatenates of at most eight operands, and a flat
  concatenate of the nine taps materialized every tap and then copied them all again.
  """
  c, h, w, n = x_CHWN.shape
  ho, wo = output_size(h, "valid", stride), output_size(w, "valid", stride)

  def tap(di, dj):  # the input window kernel tap (di, dj) reads, every stride-th row and column
    limit = (c, di + stride * (ho - 1) + 1, dj + stride * (wo - 1) + 1, n)
    return jax.lax.slice(x_CHWN, (0, di, dj, 0), limit, (1, stride, stride, 1))

  rows = [jnp.concatenate([tap(di, dj) for dj in range(KERNEL)])[None] for di in range(KERNEL)]
  return jnp.concatenate(rows).reshape(KERNEL**2 * c, n * ho * wo)


def _col2im(dp_KxM, stride, shape, ho, wo):
  """Adjoint of `_patches`: tap (di, dj) of every output position added back where it was read.

  Summed per stride phase: input row h belongs to phase h % stride at phase row h // stride,
  and tap di reads phase di % stride shifted by di // stride, so each phase is a sum of the
  few taps that read it, with unit-stride pads, and the phases are interleaved at the end.
  (Nine interior-padded pads summed into the whole input cost nine index tests per element,
  four times the work; with stride 2 that fused loop was the slowest op of the step.)
  """
  c, h, w, n = shape
  taps = dp_KxM.reshape(KERNEL, KERNEL, c, ho, wo, n)
  hp, wp = -(-h // stride), -(-w // stride)
  zero = jnp.zeros((), dp_KxM.dtype)
  phases = collections.defaultdict(lambda: jnp.zeros((c, hp, wp, n), dp_KxM.dtype))
  for di, dj in itertools.product(range(KERNEL), repeat=2):
    oi, oj = di // stride, dj // stride
    phases[di % stride, dj % stride] += jax.lax.pad(
      taps[di, dj], zero, ((0, 0, 0), (oi, hp - oi - ho, 0), (oj, wp - oj - wo, 0), (0, 0, 0))
    )
  rows = [jnp.stack([phases[ph, pw] for pw in range(stride)], axis=3) for ph in range(stride)]
  dx = jnp.stack(rows, axis=2).reshape(c, hp * stride, wp * stride, n)
  return dx[:, :h, :w]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def valid_conv(
  x_CHWN: jax.Array, w_HWIO: jax.Array, stride: int, precision: str = "fp32"
) -> jax.Array:
  """VALID 3x3 cross-correlation as one GEMM (torch.nn.Conv2d with padding 0): O x Ho x Wo x N."""
  return _valid_conv_fwd(x_CHWN, w_HWIO, stride, precision)[0]


def _valid_conv_fwd(x_CHWN, w_HWIO, stride, precision):
  _, h, w, n = x_CHWN.shape
  ho, wo = output_size(h, "valid", stride), output_size(w, "valid", stride)
  p_KxM = _patches(x_CHWN.astype(precision_lib.operand_dtype(precision)), stride)
  w_KxO = w_HWIO.reshape(-1, w_HWIO.shape[-1])
  y_OxM = precision_lib.einsum("ko,km->om", w_KxO, p_KxM, precision)
  return y_OxM.reshape(-1, ho, wo, n), (p_KxM, w_HWIO, x_CHWN.shape)


def _valid_conv_bwd(stride, precision, residuals, dy_OHWN):
  p_KxM, w_HWIO, shape = residuals
  o, ho, wo, _ = dy_OHWN.shape
  dy_OxM = dy_OHWN.reshape(o, -1)
  k = p_KxM.shape[0]
  p_KxM_aligned = jnp.pad(p_KxM, ((0, -k % DW_ROWS_MULTIPLE), (0, 0)))
  dw = precision_lib.einsum("om,km->ok", dy_OxM, p_KxM_aligned, precision)
  dw = dw[:, :k].T.reshape(w_HWIO.shape)
  dp_KxM = precision_lib.einsum("ko,om->km", w_HWIO.reshape(-1, o), dy_OxM, precision)
  return _col2im(dp_KxM, stride, shape, ho, wo), dw


valid_conv.defvjp(_valid_conv_fwd, _valid_conv_bwd)


def padded_conv(
  x_CHWN: jax.Array, w_HWIO: jax.Array, stride: int, conv_type: str, precision: str = "fp32"
) -> jax.Array:
  """Pads as `conv_type` says, then a VALID 3x3 cross-correlation (as torch.nn.Conv2d)."""
  return valid_conv(pad(x_CHWN, conv_type), w_HWIO, stride, precision)


def padded_conv_as(
  x_CHWN: jax.Array, w_HWIO: jax.Array, stride: int, width: int, mode: jax.Array,
  precision: str = "fp32",
) -> jax.Array:  # fmt: skip
  """`padded_conv` with the padding's mode as data (`pad_as`)."""
  return valid_conv(pad_as(x_CHWN, mode, width), w_HWIO, stride, precision)


def mode_of(conv_type: str) -> int:
  """The index into MODES of `conv_type`'s padding."""
  return MODES.index(PADDINGS[conv_type][0])


def reference_conv(
  x_CHWN, w_HWIO, stride: int, conv_type: str, precision: str = "fp32"
) -> jax.Array:
  """The same with XLA's convolution: the reference for tests and benchmarks."""
  return precision_lib.conv_general_dilated(precision)(
    jnp_pad(x_CHWN, conv_type),
    w_HWIO,
    (stride, stride),
    "VALID",
    dimension_numbers=("CHWN", "HWIO", "CHWN"),
  )
