"""Orbax checkpoints: a pytree state plus a JSON metadata dict, keep-last-N."""

from pathlib import Path

import jax
import orbax.checkpoint as ocp


def manager(directory, max_to_keep: int | None = 3, best_fn=None,
            best_mode: str = "min") -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, create=True, best_fn=best_fn, best_mode=best_mode,
      keep_checkpoints_without_metrics=True if best_fn is None else False)
  return ocp.CheckpointManager(Path(directory).absolute(), options=options)


def save(mngr: ocp.CheckpointManager, step: int, state, meta: dict,
         metrics: dict | None = None) -> None:
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), metrics=metrics)
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, template, step: int | None = None):
  """Restores (state, meta) at `step` (default latest) into the structure of `template`."""
  step = mngr.latest_step() if step is None else step
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
  out = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
  return out.state, out.meta


def restore_meta(mngr: ocp.CheckpointManager, step: int | None = None) -> dict:
  step = mngr.latest_step() if step is None else step
  return mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
