"""rotation/study.py's parts below the CLI (the CLI's own tests: test_rotation_cli.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_rotation_data import make_folder

from hw2_jax.cli import main
from hw2_jax.core import devices, memory
from hw2_jax.rotation import study, train
from hw2_jax.rotation.config import Config
from hw2_jax.rotation.model import make_model


def _step_bytes(name: str, seeds: int, batch: int, n_train: int) -> int:
  """XLA's count for the compiled training step of model `name` (every seed's batch, forward,
  backward and Adam) on `n_train` training images, from shapes alone."""
  model, shape = make_model(name), jax.ShapeDtypeStruct
  state = jax.eval_shape(lambda: train.init_state(model, 0, seeds, 1e-3))
  lowered = train.train_step.lower(
    state, shape((n_train, 32, 32, 3), jnp.uint8), shape((n_train,), jnp.int32),
    shape((seeds, 1, batch), jnp.int32), shape((1, batch), jnp.float32), jax.random.key(0), 0,
    model=model, augment=False, max_angle=180.0, learning_rate=1e-3,
  )  # fmt: skip
  return memory.compiled_bytes(lowered.compile())


@pytest.mark.parametrize(
  "name, seeds, batch, n_train",
  [
    ("plain", 8, 1, 1),  # the parameters and their copies
    ("c4", 8, 1, 1),  # C4's, whose stacked kernels are 4x its learned ones
    ("plain", 2, 128, 128),  # a batch's activations
    ("c4", 2, 128, 128),  # C4's: as many values, more kept for the backward pass
    ("plain", 1, 1, 50_000),  # the training images
  ],
)
def test_the_memory_estimate_is_within_a_small_factor_of_xlas_count(name, seeds, batch, n_train):
  """bytes_per_device against XLA's count of the compiled step, each size chosen so that one
  term of the estimate dominates: within 2.5x either way (core/memory's "a small factor")."""
  cfg = Config(seeds=seeds, batch_size=batch, models=(name,))
  estimate = study.bytes_per_device(cfg, n_train, devices.mesh("seeds"))
  assert 1 / 2.5 < estimate / _step_bytes(name, seeds, batch, n_train) < 2.5


def test_the_memory_estimate_counts_the_largest_model_asked_for():
  """C4's layers output more values than the plain CNN's: a study of both is estimated as C4."""
  mesh = devices.mesh("seeds")
  both, plain = (Config(seeds=4, batch_size=64, models=m) for m in (("plain", "c4"), ("plain",)))
  assert study.bytes_per_device(both, 1000, mesh) > study.bytes_per_device(plain, 1000, mesh)


def test_sizes_that_cannot_fit_are_refused_in_one_line_before_training(
  tmp_path, capsys, monkeypatch
):
  """On a device of 1 MB (a real refusal, e.g. --seeds 10000000, would be a run too large to
  start should the check go missing)."""
  monkeypatch.setattr(memory, "device_bytes", lambda: 2**20)
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  with pytest.raises(SystemExit) as e:
    main(["rotation-study", "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "out"),
          "--seeds", "3", "--batch-size", "7"])  # fmt: skip
  err = capsys.readouterr().err.strip()
  assert e.value.code == 2 and "\n" not in err
  assert "--seeds 3 with --batch-size 7 needs about" in err and "lower --seeds" in err
  assert not (tmp_path / "out" / "checkpoints").exists()


def test_a_restored_state_is_restacked_to_this_runs_seeds():
  """A state saved with more stacked seeds than this run has keeps its first ones; one saved
  with fewer gets copies of its first seed (results of the copies are dropped), every leaf
  alike whatever its shape."""
  state = {"step": np.arange(3), "w": np.arange(3 * 2 * 5).reshape(3, 2, 5)}
  fewer = study._restack(state, 2)
  np.testing.assert_array_equal(fewer["step"], [0, 1])
  np.testing.assert_array_equal(fewer["w"], state["w"][:2])
  more = study._restack(state, 5)
  np.testing.assert_array_equal(more["step"], [0, 1, 2, 0, 0])
  np.testing.assert_array_equal(
    more["w"], np.concatenate([state["w"], state["w"][:1], state["w"][:1]])
  )
  assert all(
    a is b or np.array_equal(a, b)
    for a, b in zip(*map(jax.tree.leaves, (state, study._restack(state, 3))))
  )
