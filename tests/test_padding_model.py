"""Net1/Net2 shapes per conv type and PyTorch's default initialisation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.padding import model
from hw2_jax.padding.conv import CONV_TYPES

FINAL = {"valid": 2, "sconv": 4, "fconv": 6, "reflect": 6, "replicate": 6, "circular": 6}


@pytest.mark.parametrize("conv_type", CONV_TYPES)
@pytest.mark.parametrize("net", model.NETS)
def test_shapes(net, conv_type):
  m = model.make_net(net, conv_type)
  x = jnp.zeros((3, 32, 32, 3))
  params = m.init(jax.random.key(0), x)["params"]
  chex.assert_shape(m.apply({"params": params}, x), (3, 2))
  assert model.final_size(conv_type) == FINAL[conv_type]
  kernels = [params["Features_0"][f"PaddedConv_{i}"]["kernel"] for i in range(4)]
  chex.assert_shape(kernels, [(3, 3, 3, 32), (3, 3, 32, 32), (3, 3, 32, 64), (3, 3, 64, 64)])
  if net == "Net2":
    s = FINAL[conv_type]
    chex.assert_shape(params["TorchDense_1"]["Dense_0"]["kernel"], (64 * s * s, 64))
    chex.assert_shape(params["TorchDense_0"]["Dense_0"]["kernel"], (64, 2))
  else:
    chex.assert_shape(params["TorchDense_0"]["Dense_0"]["kernel"], (64, 2))


def test_pytorch_default_init_statistics():
  params = model.make_net("Net2", "fconv").init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  leaves = jax.tree_util.tree_leaves_with_path(params)
  for path, w in leaves:
    name = jax.tree_util.keystr(path)
    if "kernel" in name:
      fan_in = int(np.prod(w.shape[:-1]))
    else:  # bias of a Dense: fan_in is the kernel's input size
      fan_in = 2304 if "TorchDense_1" in name else 64
    bound = 1 / np.sqrt(fan_in)
    w = np.asarray(w)
    assert np.abs(w).max() <= bound, name
    if w.size >= 1000:  # uniform(-b, b): std b/sqrt(3), and it fills the range
      np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.05, err_msg=name)
      assert np.abs(w).max() > 0.95 * bound, name
