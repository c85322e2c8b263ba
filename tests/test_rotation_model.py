"""The CNN's shapes, parameter count (= the PyTorch model's) and PyTorch-default init."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from hw2_jax.rotation.model import CNN, max_pool_2x2
from hw2_jax.rotation.train import init_state


def _params(seed: int = 0):
  # init_state (jitted, shared with the other tests) = CNN().init per seed
  return jax.tree.map(lambda a: a[seed], init_state(0, 2, 1e-3).params)


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
  states = init_state(0, 2, 1e-3)
  kernel = states.params["ConvBlock_0"]["Conv_0"]["kernel"]
  chex.assert_shape(kernel, (2, 3, 3, 3, 32))
  assert not np.allclose(kernel[0], kernel[1])
  single = init_state(0, 1, 1e-3).params["ConvBlock_0"]["Conv_0"]["kernel"]
  chex.assert_trees_all_equal(single[0], kernel[0])
