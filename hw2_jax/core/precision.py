"""Matmul precision of the CNN studies: `fp32` or `bf16` GEMM operands, float32 accumulation.

XLA's default precision for float32 matmuls depends on the backend: full float32 on a CPU,
TF32 on recent NVIDIA GPUs, a single bfloat16 pass on a TPU. So that `--precision` means the
same on every backend, `fp32` asks for full float32 (`Precision.HIGHEST`) and `bf16` casts
both operands to bfloat16 and accumulates in float32 (`preferred_element_type`); everything
that is not a GEMM (padding, ReLU, pooling, losses, the optimizer) stays float32 either way.

On the CPU `bf16` rounds both operands to bfloat16 and multiplies them in float32: the same
products (a product of two bfloat16 values is exact in float32, and the sum is accumulated in
float32), without bfloat16's speed; the committed bf16 padding study was made so. Older XLA:CPU
had no batched bfloat16 dot (as `jax.vmap` over seeds makes); jax 0.10's has, at 4x float32's
rate on a CPU with AMX, but the vmapped padding step barely gains from it (its memory passes
dominate: docs/performance.md), so the CNNs keep the emulation. GPUs and TPUs run the bfloat16
GEMMs natively.

`dense_dot_general` is the GPT's: a dense layer's GEMM (no batch dimensions), which XLA:CPU
does run natively in bfloat16, and a VJP whose two GEMMs take the bfloat16-rounded cotangent,
as the padding convolution's hand-written VJP does and PyTorch's autocast does; so `bf16` is
bfloat16's speed on a CPU with bfloat16 GEMMs too (AMX, avx512_bf16). The padding and rotation
nets keep `dot_general`, whose backward multiplies the float32 cotangent, so that their
committed bf16 results reproduce.
"""

import functools

import jax
import jax.numpy as jnp

PRECISIONS = ("fp32", "bf16")


def operand_dtype(precision: str):
  """The dtype GEMM operands are stored in (bfloat16 halves the memory of kept patches)."""
  return jnp.bfloat16 if precision == "bf16" else jnp.float32


def _native_bf16() -> bool:
  return jax.default_backend() != "cpu"


def _operands(precision: str, *arrays):
  """The operands as the GEMM takes them: bfloat16 (natively) or bfloat16-rounded float32."""
  if precision != "bf16":
    return [a.astype(jnp.float32) for a in arrays]
  if _native_bf16():
    return [a.astype(jnp.bfloat16) for a in arrays]
  return [a.astype(jnp.bfloat16).astype(jnp.float32) for a in arrays]


def _kwargs(precision: str) -> dict:
  if precision == "bf16" and _native_bf16():
    return {"preferred_element_type": jnp.float32}
  return {"precision": jax.lax.Precision.HIGHEST}


def einsum(spec: str, a, b, precision: str):
  """`jnp.einsum(spec, a, b)` at `precision`, with a float32 result."""
  return jnp.einsum(spec, *_operands(precision, a, b), **_kwargs(precision))


@functools.cache
def dot_general(mode: str):
  """A `lax.dot_general` for `flax.linen.Dense(dot_general=...)` at precision `mode`."""

  def dot(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    return jax.lax.dot_general(*_operands(mode, lhs, rhs), dimension_numbers, **_kwargs(mode))

  return dot


_BF16_OUT = {"preferred_element_type": jnp.float32}


@jax.custom_vjp
def _dense_bf16(x, w):
  """x (..., K) @ w (K, N) with bfloat16 operands, float32 accumulation and output."""
  return _dense_bf16_fwd(x, w)[0]


def _dense_bf16_fwd(x, w):
  x16, w16 = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
  y = jax.lax.dot_general(x16, w16, (((x.ndim - 1,), (0,)), ((), ())), **_BF16_OUT)
  return y, (x16, w16)


def _dense_bf16_bwd(res, g):
  x16, w16 = res
  g16, batch = g.astype(jnp.bfloat16), tuple(range(g.ndim - 1))
  dx = jax.lax.dot_general(g16, w16, (((g.ndim - 1,), (1,)), ((), ())), **_BF16_OUT)
  dw = jax.lax.dot_general(x16, g16, ((batch, batch), ((), ())), **_BF16_OUT)
  return dx, dw


_dense_bf16.defvjp(_dense_bf16_fwd, _dense_bf16_bwd)


@functools.cache
def dense_dot_general(mode: str):
  """`dot_general` for the GPT's dense layers: at `bf16`, all three GEMMs of the layer (forward,
  input and weight gradients) multiply bfloat16 operands into float32, on every backend."""
  if mode != "bf16":
    return dot_general(mode)

  def dot(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    (lhs_contract, rhs_contract), batch = dimension_numbers
    if lhs_contract != (lhs.ndim - 1,) or rhs_contract != (0,) or batch != ((), ()):
      raise ValueError(f"dense_dot_general: not a dense layer's GEMM: {dimension_numbers}")
    return _dense_bf16(lhs, rhs)

  return dot


@functools.cache
def conv_general_dilated(mode: str):
  """A `lax.conv_general_dilated` for `flax.linen.Conv(conv_general_dilated=...)`."""

  def conv(lhs, rhs, *args, precision=None, preferred_element_type=None, **kwargs):
    return jax.lax.conv_general_dilated(
      *_operands(mode, lhs, rhs), *args, **kwargs, **_kwargs(mode)
    )

  return conv
