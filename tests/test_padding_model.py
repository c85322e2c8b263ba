"""Net1/Net2 shapes per conv type, PyTorch's default initialisation, and equality (values and
gradients, up to float reassociation) with the channel-last XLA-convolution nets they replaced."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.padding import conv, model
from hw2_jax.padding.conv import CONV_TYPES, PADDINGS

FINAL = {"valid": 2, "sconv": 4, "fconv": 6, "reflect": 6, "replicate": 6, "circular": 6}


def test_kernel_shapes():
  """The four bias-free 3x3 convolutions, 3-32-32-64-64 channels (the same for every net and
  padding: checked once)."""
  params = jax.eval_shape(
    model.make_net("Net1", "valid").init, jax.random.key(0), jnp.zeros((3, 32, 32, 3))
  )["params"]
  assert jax.tree.map(jnp.shape, params["Features_0"]) == {
    f"PaddedConv_{i}": {"kernel": shape}
    for i, shape in enumerate([(3, 3, 3, 32), (3, 3, 32, 32), (3, 3, 32, 64), (3, 3, 64, 64)])
  }


@pytest.mark.parametrize("conv_type", CONV_TYPES)
def test_head_shapes(conv_type):
  """Net1 reads out 64 max-pooled channels, Net2 the flattened 64 x s x s map (s per padding)."""
  s = FINAL[conv_type]
  assert model.final_size(conv_type) == s
  x = jnp.zeros((3, 32, 32, 3))
  for net, head in (
    ("Net1", {"TorchDense_0": (64, 2)}),
    ("Net2", {"TorchDense_1": (64 * s * s, 64), "TorchDense_0": (64, 2)}),
  ):
    m = model.make_net(net, conv_type)
    params = jax.eval_shape(m.init, jax.random.key(0), x)["params"]
    assert {k: v["Dense_0"]["kernel"].shape for k, v in params.items() if k != "Features_0"} == head
    chex.assert_shape(jax.eval_shape(m.apply, {"params": params}, x), (3, 2))


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


def _channel_last_xla_logits(params, x_NHWC, net, conv_type):
  """The nets as first written: NHWC activations, jnp.pad and XLA's convolution per layer."""
  mode, width = PADDINGS[conv_type]
  h = x_NHWC
  for i, stride in enumerate(model.STRIDES):
    if width:
      h = jnp.pad(h, ((0, 0), (width, width), (width, width), (0, 0)), mode=mode)
    w_HWIO = params["Features_0"][f"PaddedConv_{i}"]["kernel"]
    h = jax.nn.relu(
      jax.lax.conv_general_dilated(
        h, w_HWIO, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
      )
    )
  dense = lambda name, v: v @ params[name]["Dense_0"]["kernel"] + params[name]["Dense_0"]["bias"]
  if net == "Net1":
    return dense("TorchDense_0", h.max(axis=(1, 2)))
  return dense("TorchDense_0", dense("TorchDense_1", h.reshape(h.shape[0], -1)))


X = jax.random.uniform(jax.random.key(1), (4, 32, 32, 3))
Y = jnp.array([0, 1, 1, 0])


def _xent(logits):
  """The mean cross-entropy of X's four logits against Y."""
  return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(4), Y])


# Every padding's convolution equals XLA's in test_padding_conv.py; here the nets' wiring
# (layout, ReLUs, heads) is checked once per head and per size of Net2's flattened map.
@pytest.mark.parametrize(
  "net,conv_type", [("Net1", "reflect"), ("Net2", "valid"), ("Net2", "sconv"), ("Net2", "circular")]
)
def test_equals_channel_last_xla_convolution_net(net, conv_type):
  m = model.make_net(net, conv_type)
  params = jax.jit(m.init)(jax.random.key(0), X)["params"]
  ours = lambda p: _xent(m.apply({"params": p}, X))
  ref = lambda p: _xent(_channel_last_xla_logits(p, X, net, conv_type))
  chex.assert_trees_all_close(
    jax.jit(jax.value_and_grad(ours))(params),
    jax.jit(jax.value_and_grad(ref))(params),
    atol=1e-5,
    rtol=1e-4,
  )


@pytest.mark.parametrize("net", ["Net1", "Net2"])
def test_the_shared_net_of_a_width_equals_each_paddings_own_net(net):
  """The net with the padding's mode as data (one program for every padding of a width) has,
  for each padding's mode, the loss and gradients of the net made for that padding: every
  padding of width 2, and valid and sconv, alone at their widths."""
  for conv_types in (("fconv", "reflect", "replicate", "circular"), ("sconv",), ("valid",)):
    shared = model.make_net(net, conv_types[0], shared=True)
    params = jax.jit(shared.init)(jax.random.key(0), X, jnp.int32(0))["params"]
    grads = jax.jit(jax.value_and_grad(lambda p, m, s=shared: _xent(s.apply({"params": p}, X, m))))
    for conv_type in conv_types:
      own = model.make_net(net, conv_type)
      loss = lambda p, own=own: _xent(own.apply({"params": p}, X))
      want = jax.jit(jax.value_and_grad(loss))(params)
      got = grads(params, jnp.int32(conv.mode_of(conv_type)))
      chex.assert_trees_all_equal(got, want)
