"""The CNN's shapes, parameter count (= the PyTorch model's) and PyTorch-default init; the C4 CNN's
invariance, its convolutions against NumPy references, parameter count, init, vmap and bf16."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from hw2_jax.rotation.model import (
  C4CNN,
  CNN,
  C4Conv,
  footprint,
  invariant_pool,
  make_model,
  max_pool_2x2,
  num_params,
  rotate_c4,
)
from hw2_jax.rotation.train import init_state


def _params(seed: int = 0):
  # init_state (jitted, shared with the other tests) = CNN().init per seed
  return jax.tree.map(lambda a: a[seed], init_state(CNN(), 0, 2, 1e-3).params)


def test_shapes_and_parameter_count():
  params = _params()
  shapes = jax.tree.map(jnp.shape, params)
  assert shapes["ConvBlock_0"]["Conv_0"] == {"kernel": (3, 3, 3, 32), "bias": (32,)}
  assert shapes["ConvBlock_1"]["Conv_0"] == {"kernel": (3, 3, 32, 64), "bias": (64,)}
  assert shapes["ConvBlock_2"]["Conv_0"] == {"kernel": (3, 3, 64, 64), "bias": (64,)}
  assert shapes["TorchDense_0"]["Dense_0"] == {"kernel": (1024, 64), "bias": (64,)}
  assert shapes["TorchDense_1"]["Dense_0"] == {"kernel": (64, 10), "bias": (10,)}
  # torch: 896 + 18496 + 36928 + 65600 + 650
  assert sum(x.size for x in jax.tree.leaves(params)) == 122570
  logits = jax.jit(CNN().apply)({"params": params}, jnp.ones((5, 32, 32, 3)))
  chex.assert_shape(logits, (5, 10))
  chex.assert_tree_all_finite(logits)


def test_pytorch_default_init_bounds():
  params = _params(1)
  fan_ins = {
    "ConvBlock_0": 27,
    "ConvBlock_1": 288,
    "ConvBlock_2": 576,
    "TorchDense_0": 1024,
    "TorchDense_1": 64,
  }
  for name, fan_in in fan_ins.items():
    for leaf in jax.tree.leaves(params[name]):
      bound = 1 / np.sqrt(fan_in)
      assert np.abs(leaf).max() <= bound
      if leaf.size >= 64:  # uniform, so it fills most of the range
        assert np.abs(leaf).max() > 0.8 * bound


def test_max_pool_matches_flax():
  x = jax.random.normal(jax.random.key(2), (3, 8, 6, 4))
  chex.assert_trees_all_equal(max_pool_2x2(x), nn.max_pool(x, (2, 2), strides=(2, 2)))


def test_seed_stacked_init_differs_per_seed():
  states = init_state(CNN(), 0, 2, 1e-3)
  kernel = states.params["ConvBlock_0"]["Conv_0"]["kernel"]
  chex.assert_shape(kernel, (2, 3, 3, 3, 32))
  assert not np.allclose(kernel[0], kernel[1])
  single = init_state(CNN(), 0, 1, 1e-3).params["ConvBlock_0"]["Conv_0"]["kernel"]
  chex.assert_trees_all_equal(single[0], kernel[0])


# The C4-equivariant CNN. References below are NumPy, float64, written from Cohen & Welling's
# definitions with np.rot90 and loops, not from the stacked kernels of model.py.


def lifting_reference(x_BxHxWxC, w_3x3xCxO, bias_O):
  """out(p, o, r) = bias(o) + sum_{c, q} x(p + q, c) psi_c,o(R^-r q): kernel turned by r."""
  b, h, w, c = x_BxHxWxC.shape
  o = w_3x3xCxO.shape[-1]
  xp = np.pad(x_BxHxWxC.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
  out = np.zeros((b, h, w, o, 4))
  for r in range(4):
    for co in range(o):
      psi_3x3xC = np.rot90(w_3x3xCxO[:, :, :, co], r, axes=(0, 1))
      for ci in range(c):
        for di in range(3):
          for dj in range(3):
            out[:, :, :, co, r] += psi_3x3xC[di, dj, ci] * xp[:, di : di + h, dj : dj + w, ci]
      out[..., co, r] += bias_O[co]
  return out


def group_reference(x_BxHxWxCx4, w_3x3xCx4xO, bias_O):
  """out(p, o, r) = bias(o) + sum_{s, c, q} x(p + q, c, s) psi_c,o(R^-r q, s - r)."""
  b, h, w, c, _ = x_BxHxWxCx4.shape
  o = w_3x3xCx4xO.shape[-1]
  xp = np.pad(x_BxHxWxCx4.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)))
  out = np.zeros((b, h, w, o, 4))
  for r in range(4):
    for s in range(4):
      for co in range(o):
        psi_3x3xC = np.rot90(w_3x3xCx4xO[:, :, :, (s - r) % 4, co], r, axes=(0, 1))
        for ci in range(c):
          for di in range(3):
            for dj in range(3):
              tap = xp[:, di : di + h, dj : dj + w, ci, s]
              out[:, :, :, co, r] += psi_3x3xC[di, dj, ci] * tap
  return out + bias_O[:, None]


def _random(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("h, w", [(6, 6), (5, 7)])
def test_lifting_conv_matches_reference(h, w):
  x, kernel, bias = _random((2, h, w, 3), 0), _random((3, 3, 3, 2), 1), _random((2,), 2)
  out = C4Conv(2, lifting=True).apply({"params": {"kernel": kernel, "bias": bias}}, x)
  chex.assert_shape(out, (2, h, w, 2, 4))
  chex.assert_trees_all_close(np.asarray(out), lifting_reference(x, kernel, bias), atol=1e-5)


@pytest.mark.parametrize("h, w", [(6, 6), (5, 7)])
def test_group_conv_matches_reference(h, w):
  x, kernel = _random((2, h, w, 3, 4), 3), _random((3, 3, 3, 4, 2), 4)
  bias = _random((2,), 5)
  out = C4Conv(2).apply({"params": {"kernel": kernel, "bias": bias}}, x)
  chex.assert_shape(out, (2, h, w, 2, 4))
  chex.assert_trees_all_close(np.asarray(out), group_reference(x, kernel, bias), atol=1e-5)


def test_c4_convs_are_equivariant():
  """Turning the input turns each output map and shifts the rotation axis (rotate_c4)."""
  image, maps = _random((2, 6, 6, 3), 6), _random((2, 6, 6, 3, 4), 7)
  for layer, x, turn in (
    (C4Conv(2, lifting=True), image, lambda x, k: np.rot90(x, k, axes=(1, 2))),
    (C4Conv(2), maps, rotate_c4),
  ):
    params = layer.init(jax.random.key(0), x)
    y = layer.apply(params, x)
    for k in range(4):
      chex.assert_trees_all_close(layer.apply(params, turn(x, k)), rotate_c4(y, k), atol=1e-5)


_c4_init = jax.jit(lambda key: C4CNN().init(key, jnp.zeros((1, 32, 32, 3)))["params"])


def _c4_params(seed=0):
  return _c4_init(jax.random.key(seed))


def _rotated_logits(model, params, x_Bx32x32x3):
  apply = jax.jit(model.apply)
  return [
    np.asarray(apply({"params": params}, np.rot90(x_Bx32x32x3, k, axes=(1, 2)))) for k in range(4)
  ]


def test_c4_logits_are_invariant_under_rot90_and_the_plain_cnns_are_not():
  # Exact in real arithmetic; in float32 the rotated input reaches XLA's convolution as a
  # permutation of the same products, summed in another order: differences of a few ulps
  # (~1e-7 of the logits), so 1e-5. The plain CNN's differ by ~1e-2.
  x = np.random.default_rng(8).random((6, 32, 32, 3), np.float32)
  for seed in (0, 1):
    logits = _rotated_logits(C4CNN(), _c4_params(seed), x)
    assert np.abs(logits[0]).max() > 0.05  # not a trivially constant output
    for k in range(1, 4):
      chex.assert_trees_all_close(logits[k], logits[0], atol=1e-5, rtol=0)
  plain = _rotated_logits(CNN(), _params(), x)
  for k in range(1, 4):
    assert np.abs(plain[k] - plain[0]).max() > 1e-3, k


def test_invariant_pool_needs_the_back_rotation():
  maps = _random((2, 4, 4, 3, 4), 9)
  for k in range(4):
    chex.assert_trees_all_equal(invariant_pool(rotate_c4(maps, k)), invariant_pool(maps))
  assert not np.allclose(rotate_c4(maps).max(-1), maps.max(-1))  # the plain max is not


def test_c4_shapes_and_parameter_count():
  params = _c4_params()
  shapes = jax.tree.map(jnp.shape, params)
  assert shapes["C4Conv_0"] == {"kernel": (3, 3, 3, 8), "bias": (8,)}
  assert shapes["C4Conv_1"] == {"kernel": (3, 3, 8, 4, 18), "bias": (18,)}
  assert shapes["C4Conv_2"] == {"kernel": (3, 3, 18, 4, 64), "bias": (64,)}
  assert shapes["TorchDense_0"]["Dense_0"] == {"kernel": (1024, 64), "bias": (64,)}
  assert shapes["TorchDense_1"]["Dense_0"] == {"kernel": (64, 10), "bias": (10,)}
  # 224 + 4626 + 41536 + 65600 + 650
  assert num_params(params) == 113212
  assert abs(num_params(params) / num_params(_params()) - 1) <= 0.1
  assert num_params(_params()) == 122570


def test_footprint_counts_the_parameters_and_every_layers_output():
  """The memory estimate's sizes: the parameter counts, and per image the values each layer
  outputs, by hand: 3 conv blocks (conv, then ReLU and pool) and the dense head (TorchDense
  wraps a Dense: its 64 and 10 values count twice, and the net's logits once more)."""
  plain = 32 * 32 * 32 + 16 * 16 * 64 + 8 * 8 * 64 + (16 * 16 * 32 + 8 * 8 * 64 + 4 * 4 * 64)
  c4 = 4 * (32 * 32 * 8 + 16 * 16 * 18 + 8 * 8 * 64)  # the C4 convs (relu_pool_c4 is no module)
  head = 2 * 64 + 3 * 10
  assert footprint("plain") == (122570, plain + head)
  assert footprint("c4") == (113212, c4 + head)


def test_c4_pytorch_default_init_bounds():
  params = _c4_params(1)
  fan_ins = {
    "C4Conv_0": 27,
    "C4Conv_1": 9 * 8 * 4,  # the stacked kernel's input: channels x rotations
    "C4Conv_2": 9 * 18 * 4,
    "TorchDense_0": 1024,
    "TorchDense_1": 64,
  }
  for name, fan_in in fan_ins.items():
    for leaf in jax.tree.leaves(params[name]):
      bound = 1 / np.sqrt(fan_in)
      assert np.abs(leaf).max() <= bound
      if leaf.size >= 64:
        assert np.abs(leaf).max() > 0.8 * bound


def test_c4_vmapped_over_seeds_and_bf16():
  # bf16 rounds every GEMM operand to 8 significant bits: the logits move by ~2e-4 (of ~0.15)
  # from float32's, and a float32 reassociation can now flip an operand's rounding, so the
  # rot90 invariance holds to ~6e-5 instead of ~1e-7.
  x = np.random.default_rng(10).random((3, 32, 32, 3), np.float32)
  params_S = jax.vmap(_c4_init)(jax.random.split(jax.random.key(0), 2))
  chex.assert_shape(params_S["C4Conv_1"]["kernel"], (2, 3, 3, 8, 4, 18))
  alone = jax.jit(C4CNN().apply)
  for precision, atol in (("fp32", 1e-5), ("bf16", 2e-3)):
    apply_S = jax.jit(jax.vmap(C4CNN(precision=precision).apply, in_axes=(0, None)))
    logits_SxBx10 = apply_S({"params": params_S}, x)
    chex.assert_shape(logits_SxBx10, (2, 3, 10))
    chex.assert_tree_all_finite(logits_SxBx10)
    for s in range(2):  # each seed: its own model, as if applied alone in float32
      one = jax.tree.map(lambda a, s=s: a[s], params_S)
      chex.assert_trees_all_close(logits_SxBx10[s], alone({"params": one}, x), atol=atol, rtol=0)
    assert not np.allclose(logits_SxBx10[0], logits_SxBx10[1], atol=1e-2)
    turned = apply_S({"params": params_S}, np.rot90(x, 1, axes=(1, 2)))
    chex.assert_trees_all_close(turned, logits_SxBx10, atol=atol / 2, rtol=0)


def test_make_model():
  assert type(make_model("plain", "fp32")) is CNN and type(make_model("augmented", "bf16")) is CNN
  model = make_model("c4-augmented", "bf16")
  assert type(model) is C4CNN and model.precision == "bf16"
  assert type(make_model("c4", "fp32")) is C4CNN
  with pytest.raises(ValueError, match="unknown model 'p4'"):
    make_model("p4", "fp32")
