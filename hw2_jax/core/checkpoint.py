"""Orbax checkpoints: a pytree state plus a JSON metadata dict, keep-last-N, checked both ways.

A save that Orbax declines (a step that already exists) is an error, not a silent no-op, and a
state with a non-finite value is never saved. A checkpoint that cannot be read back, or reads
back non-finite, is reported with the steps that are still there to fall back on. Leftover
temporary folders of a save that was killed are removed when the folder is next opened. Every
process of a multi-process run takes part in saving and restoring (Orbax coordinates them);
the directory may be a gs:// URI.
"""

import time

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from hw2_jax.core import devices, io
from hw2_jax.core.errors import RunError


def manager(
  directory, max_to_keep: int | None = 3, best_fn=None, best_mode: str = "min"
) -> ocp.CheckpointManager:
  """A CheckpointManager of `directory` whose removal of a killed save's temporary folders has
  finished when it is returned (Orbax runs it in a background thread, which, still running
  when a command stops early with an error, ended the process with a traceback)."""
  options = ocp.CheckpointManagerOptions(
    max_to_keep=max_to_keep,
    create=True,
    best_fn=best_fn,
    best_mode=best_mode,
    keep_checkpoints_without_metrics=best_fn is None,
    cleanup_tmp_directories=True,
  )
  path = directory if io.is_uri(directory) else io.as_path(directory).absolute()
  mngr = ocp.CheckpointManager(path, options=options)
  wait = getattr(mngr, "_maybe_await_cleanup_tmp_directory", None)  # orbax-checkpoint 0.12
  if wait is not None:
    wait()
  return mngr


@jax.jit
def _all_finite(tree):
  leaves = [
    jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)
  ]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def all_finite(tree) -> bool:
  """Whether every float in `tree` is finite (one reduction on the devices)."""
  return bool(devices.fetch(_all_finite(tree)))


def save(
  mngr: ocp.CheckpointManager, step: int, state, meta: dict, metrics: dict | None = None
) -> None:
  """Saves `state` and `meta` as `step` and waits until it is on disk."""
  if not all_finite(state):
    raise RunError(
      f"refusing to save step {step} in {mngr.directory}: the state has non-finite values."
    )
  try:
    saved = mngr.save(
      step,
      args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
      metrics=metrics,
    )
    mngr.wait_until_finished()
  except Exception as e:  # a full disk, a lost bucket: Orbax wraps the OSError in its own types
    reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    raise RunError(
      f"could not save checkpoint step {step} in {mngr.directory} ({reason}); free some space "
      "or fix the folder, then run the same command again."
    ) from None
  if not saved:
    raise RunError(
      f"checkpoint step {step} was not saved in {mngr.directory} (steps there: "
      f"{list(mngr.all_steps())}); remove the folder or write elsewhere."
    )


class Periodic:
  """Saves a training state at the end of an epoch once `every_s` seconds have passed since
  the last save, or when forced (a stop, the end): a crash then loses at most `every_s` seconds
  of training, and a fast accelerator is not slowed down by a save every epoch."""

  def __init__(self, mngr: ocp.CheckpointManager, every_s: float):
    self.mngr, self.every_s, self.last = mngr, every_s, time.monotonic()

  def __call__(self, step: int, state, meta: dict, force: bool = False) -> bool:
    if self.mngr.latest_step() == step or not (
      force or time.monotonic() - self.last >= self.every_s
    ):
      return False
    save(self.mngr, step, state, meta)
    self.last = time.monotonic()
    return True


def _damaged(mngr, step, reason) -> RunError:
  earlier = [s for s in mngr.all_steps() if s < step]
  fallback = (
    f"remove {mngr.directory}/{step} to fall back to step {max(earlier)}"
    if earlier
    else f"no earlier checkpoint is in {mngr.directory}"
  )
  return RunError(f"checkpoint {mngr.directory}/{step} is damaged ({reason}); {fallback}.")


def restore(mngr: ocp.CheckpointManager, template, step: int | None = None):
  """Restores (state, meta) at `step` (default latest) into the structure of `template`.

  `template`'s arrays give the shapes, dtypes and shardings (the mesh of this run, which may
  differ from the one that saved).
  """
  step = mngr.latest_step() if step is None else step
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
  try:
    out = mngr.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
      ),
    )
  except Exception as e:
    raise _damaged(mngr, step, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
  if not all_finite(out.state):
    raise _damaged(mngr, step, "it holds non-finite values")
  return out.state, out.meta


def restore_meta(mngr: ocp.CheckpointManager, step: int | None = None) -> dict:
  step = mngr.latest_step() if step is None else step
  try:
    return mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
  except Exception as e:
    raise _damaged(mngr, step, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
