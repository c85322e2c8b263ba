"""The six paddings equal numpy's pad and their VJPs jnp.pad's; the GEMM convolution equals
XLA's, values and gradients.

Arrays are channel-major, C x H x W x N, as the feature extractor keeps them (see conv.py).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.padding import conv

NUMPY_MODES = {
  "valid": None,
  "sconv": ("constant", 1),
  "fconv": ("constant", 2),
  "reflect": ("reflect", 2),
  "replicate": ("edge", 2),
  "circular": ("wrap", 2),
}


@pytest.mark.parametrize("conv_type", conv.CONV_TYPES)
def test_pad_equals_numpy(conv_type):
  x = np.random.RandomState(0).randn(3, 5, 6, 2).astype(np.float32)
  expected = x
  if NUMPY_MODES[conv_type]:
    mode, w = NUMPY_MODES[conv_type]
    expected = np.pad(x, ((0, 0), (w, w), (w, w), (0, 0)), mode=mode)
  np.testing.assert_array_equal(conv.pad(jnp.asarray(x), conv_type), expected)


@pytest.mark.parametrize("conv_type", conv.CONV_TYPES)
def test_pad_vjp_equals_jnp_pad_autodiff(conv_type):
  x = jax.random.normal(jax.random.key(3), (3, 7, 6, 2))
  y, vjp = jax.vjp(lambda x: conv.pad(x, conv_type), x)
  y_ref, vjp_ref = jax.vjp(lambda x: conv.jnp_pad(x, conv_type), x)
  g = jax.random.normal(jax.random.key(4), y.shape)
  np.testing.assert_array_equal(y, y_ref)
  chex.assert_trees_all_close(vjp(g), vjp_ref(g), atol=1e-6)


def test_pad_semantics_match_pytorch_padding_modes():
  row = jnp.arange(1.0, 4.0).reshape(1, 1, 3, 1).repeat(5, axis=1)  # C x H x W x N
  line = lambda ct: np.asarray(conv.pad(row, ct))[0, 2, :, 0].tolist()
  assert line("reflect") == [3, 2, 1, 2, 3, 2, 1]  # edge pixel not repeated
  assert line("replicate") == [1, 1, 1, 2, 3, 3, 3]  # edge pixel repeated
  assert line("circular") == [2, 3, 1, 2, 3, 1, 2]  # wraps around
  assert line("fconv") == [0, 0, 1, 2, 3, 0, 0]


@pytest.mark.parametrize("conv_type", conv.CONV_TYPES)
@pytest.mark.parametrize("stride,size,channels", [(1, 12, 3), (2, 12, 8), (2, 7, 4)])
def test_gemm_conv_equals_xla_conv_with_gradients(conv_type, stride, size, channels):
  kx, kw, kg = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (channels, size, size, 2))
  w = jax.random.normal(kw, (3, 3, channels, 5))
  y = conv.padded_conv(x, w, stride, conv_type)
  y_ref = conv.reference_conv(x, w, stride, conv_type)
  out = conv.output_size(size, conv_type, stride)
  chex.assert_shape(y, (5, out, out, 2))
  chex.assert_trees_all_close(y, y_ref, atol=1e-4, rtol=1e-5)
  g = jax.random.normal(kg, y.shape)
  loss = lambda f: lambda x, w: jnp.vdot(f(x, w, stride, conv_type), g)
  grads = jax.grad(loss(conv.padded_conv), (0, 1))(x, w)
  grads_ref = jax.grad(loss(conv.reference_conv), (0, 1))(x, w)
  chex.assert_trees_all_close(grads, grads_ref, atol=1e-4, rtol=1e-5)


def test_gemm_conv_under_vmap_equals_per_seed():
  x = jax.random.normal(jax.random.key(1), (4, 10, 10, 3))
  w_S = jax.random.normal(jax.random.key(2), (2, 3, 3, 4, 6))
  f = lambda w: jnp.sum(conv.padded_conv(x, w, 2, "reflect") ** 2)
  chex.assert_trees_all_close(
    jax.vmap(jax.grad(f))(w_S), jnp.stack([jax.grad(f)(w) for w in w_S]), rtol=1e-5
  )
