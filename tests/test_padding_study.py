"""padding/study.py's parts below the CLI (the CLI's own tests: test_padding_cli.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.core import devices, memory
from hw2_jax.padding import study, train
from hw2_jax.padding.config import Config
from hw2_jax.padding.model import make_net


def _epoch_bytes(cfg: Config, net: str, conv_type: str) -> int:
  """XLA's count for the compiled training epoch (one seed batch after another, then the
  validation pass) of `cfg`'s sizes, from shapes alone."""
  model, recipe = make_net(net, conv_type, cfg.precision, shared=True), cfg.recipe()
  state = jax.eval_shape(
    lambda: train.init_state(model, recipe, list(range(cfg.seeds)), (32, 32, 3))
  )

  def split(n):
    k, b = n // cfg.batch_size, cfg.batch_size
    return jax.ShapeDtypeStruct((k, b, 32, 32, 3), jnp.float32), jax.ShapeDtypeStruct(
      (k, b), jnp.int32
    )

  lowered = train.epoch_step.lower(
    state, model, recipe, split(cfg.num_train), split(cfg.num_val), jnp.int32(0)
  )
  return memory.compiled_bytes(lowered.compile())


@pytest.mark.parametrize(
  "sizes",
  [
    {"seeds": 8, "batch_size": 1, "num_train": 1, "num_val": 1},  # the parameters and copies
    {"seeds": 2, "batch_size": 100, "num_train": 100, "num_val": 100},  # a batch's activations
    {"seeds": 1, "batch_size": 1, "num_train": 2000, "num_val": 1000},  # the data
  ],
)
def test_the_memory_estimate_is_within_a_small_factor_of_xlas_count(sizes):
  """bytes_per_device against XLA's count of the compiled epoch of the largest net (Net2, the
  dense head) at the widest padding, each size chosen so that one term dominates: within 2.5x
  either way (core/memory's "a small factor"). One test image, so that the estimate's test
  sets, which this program does not hold, count for nothing."""
  cfg = Config(**sizes, num_test=1)
  xla = _epoch_bytes(cfg, "Net2", "fconv")
  assert 1 / 2.5 < study.bytes_per_device(cfg, devices.mesh("seeds")) / xla < 2.5


def test_a_configurations_entry_rounds_to_hundredths_and_says_what_diverged():
  """_entry: accuracies to 2 decimals, the unshifted test only when there is one, the rounds
  whose validation loss diverged (numbered from 1 in the warning), and the one-line summary."""
  res = train.SeedsResult(
    np.array([100 / 3, 50.0]), np.array([200 / 3, 12.5]), np.array([7, 9]),
    np.array([False, True]), np.array([1 / 7, 2.0]),
  )  # fmt: skip
  logs = []
  entry = study._entry(Config(seeds=2), "Net1", "fconv", res, 12.3, logs.append)
  assert entry == {
    "val": [33.33, 50.0], "similar": [0.14, 2.0], "test": [66.67, 12.5], "epochs": [7, 9],
    "seconds": 12.3, "diverged": [1],
  }  # fmt: skip
  assert "round(s) [2] became non-finite" in logs[0]
  assert logs[1] == (
    "Net1 fconv: validation 41.66%, shifted test 39.59% (means of 2 rounds), 8.0 epochs, 12 s"
  )
  assert "similar" not in study._entry(Config(), "Net1", "fconv", res._replace(similar_acc=None),
                                       1.0, logs.append)  # fmt: skip
