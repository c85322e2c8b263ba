"""Matmul precision of the CNN studies: `fp32` or `bf16` GEMM operands, float32 accumulation.

XLA's default precision for float32 matmuls depends on the backend: full float32 on a CPU,
TF32 on recent NVIDIA GPUs, a single bfloat16 pass on a TPU. So that `--precision` means the
same on every backend, `fp32` asks for full float32 (`Precision.HIGHEST`) and `bf16` casts
both operands to bfloat16 and accumulates in float32 (`preferred_element_type`); everything
that is not a GEMM (padding, ReLU, pooling, losses, the optimizer) stays float32 either way.
"""

import functools

import jax
import jax.numpy as jnp

PRECISIONS = ("fp32", "bf16")


def operand_dtype(precision: str):
  return jnp.bfloat16 if precision == "bf16" else jnp.float32


def _kwargs(precision: str) -> dict:
  if precision == "bf16":
    return {"preferred_element_type": jnp.float32}
  return {"precision": jax.lax.Precision.HIGHEST}


def einsum(spec: str, a, b, precision: str):
  """`jnp.einsum(spec, a, b)` at `precision`, with a float32 result."""
  dt = operand_dtype(precision)
  return jnp.einsum(spec, a.astype(dt), b.astype(dt), **_kwargs(precision))


@functools.cache
def dot_general(mode: str):
  """A `lax.dot_general` for `flax.linen.Dense(dot_general=...)` at precision `mode`."""
  def dot(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):  # pylint: disable=unused-argument
    dt = operand_dtype(mode)
    return jax.lax.dot_general(lhs.astype(dt), rhs.astype(dt), dimension_numbers,
                               **_kwargs(mode))
  return dot


@functools.cache
def conv_general_dilated(mode: str):
  """A `lax.conv_general_dilated` for `flax.linen.Conv(conv_general_dilated=...)`."""
  def conv(lhs, rhs, *args, precision=None, preferred_element_type=None, **kwargs):  # pylint: disable=unused-argument
    dt = operand_dtype(mode)
    return jax.lax.conv_general_dilated(lhs.astype(dt), rhs.astype(dt), *args, **kwargs,
                                        **_kwargs(mode))
  return conv
