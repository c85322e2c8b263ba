"""Checkpoints: a save Orbax declines or a non-finite state is an error; a damaged checkpoint
is reported with the step to fall back to."""

import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.core import checkpoint
from hw2_jax.core.errors import RunError

STATE = {"w": jnp.arange(4.0), "b": jnp.ones(2)}


def test_round_trip_and_declined_save_is_an_error(tmp_path):
  mngr = checkpoint.manager(tmp_path / "c", max_to_keep=2)
  checkpoint.save(mngr, 5, STATE, {"lr": 0.1})
  state, meta = checkpoint.restore(mngr, STATE)
  np.testing.assert_array_equal(state["w"], STATE["w"])
  assert meta == {"lr": 0.1}
  with pytest.raises(RunError, match="step 5 was not saved"):  # Orbax skips an existing step
    checkpoint.save(mngr, 5, {"w": STATE["w"] + 1, "b": STATE["b"]}, {"lr": 0.2})
  assert checkpoint.restore_meta(mngr) == {"lr": 0.1}


def test_non_finite_state_is_never_saved(tmp_path):
  mngr = checkpoint.manager(tmp_path / "c")
  with pytest.raises(RunError, match="non-finite"):
    checkpoint.save(mngr, 1, {"w": jnp.array([1.0, jnp.nan]), "b": STATE["b"]}, {})
  assert mngr.latest_step() is None


def test_damaged_checkpoint_names_the_step_to_fall_back_to(tmp_path):
  mngr = checkpoint.manager(tmp_path / "c", max_to_keep=3)
  checkpoint.save(mngr, 1, STATE, {})
  checkpoint.save(mngr, 2, STATE, {})
  for f in (tmp_path / "c" / "2").rglob("*"):  # garble every file of step 2
    if f.is_file():
      f.write_bytes(b"\x00garbage" * 3)
  with pytest.raises(RunError, match=r"c/2 is damaged .*remove .*c/2 to fall back to step 1"):
    checkpoint.restore(checkpoint.manager(tmp_path / "c"), STATE)


def test_a_save_that_fails_is_one_line_naming_the_folder(tmp_path, monkeypatch):
  """A full disk inside Orbax (any exception of its save) becomes one RunError line."""
  mngr = checkpoint.manager(tmp_path / "c")

  def full(*args, **kwargs):
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(mngr, "save", full)
  with pytest.raises(RunError) as e:
    checkpoint.save(mngr, 3, STATE, {})
  message = str(e.value)
  assert message.startswith(f"could not save checkpoint step 3 in {mngr.directory}")
  assert "No space left on device" in message and "free some space" in message
  assert "\n" not in message
