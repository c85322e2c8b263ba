"""A gpt-train run's checkpoints, what they record, and what may continue them.

OUT/checkpoints/last keeps the last --keep-checkpoints states, OUT/checkpoints/best the one
with the lowest validation loss (training loss when no text is held out). Each checkpoint's
metadata holds the run's config, the model config, the vocabulary, the text's digest and the
planned number of steps, which is what `check_resume` compares (core/rundir.settings_diff): a
resumed run may change how it logs, samples and checkpoints, and how far it goes, but not what
decides its numbers. A folder holding any of the run's outputs is a run, checkpoints or not:
it is continued only with --resume and replaced only with --overwrite.
"""

import contextlib
import dataclasses
import math

from hw2_jax.core import checkpoint, devices, io, rundir
from hw2_jax.core.errors import ConfigError
from hw2_jax.core.flags import to_json
from hw2_jax.gpt.config import DECIDING, ModelConfig

OUTPUTS = ("checkpoints", "metrics.jsonl", "summary.json", "samples.txt", "tb", "plots")
_MODEL_FLAGS = {
  "n_layer": "--n-layer", "n_head": "--n-head", "n_embd": "--n-embd", "precision": "--precision",
  "vocab_size": "the text's vocabulary size (--txt-file)",
}  # fmt: skip


def has_checkpoint(out) -> bool:
  last = io.as_path(out) / "checkpoints" / "last"
  return last.is_dir() and any(p.name.isdigit() for p in last.iterdir())


def has_outputs(out) -> bool:
  """Any output of a run; its checkpoint folders count only with a checkpoint in them (a run
  refused during its setup, e.g. a batch that does not split over the devices, leaves them
  empty, and the corrected command must not be told to --resume or --overwrite). A best
  checkpoint never comes without metrics.jsonl, written before the first step."""
  others = (name for name in OUTPUTS if name != "checkpoints")
  return has_checkpoint(out) or any((io.as_path(out) / name).exists() for name in others)


class RunCheckpoints:
  """The checkpoint managers of run folder `out`, opened for `cfg` (a context manager: the
  managers are closed on every exit, so no save is left scheduled after an error)."""

  def __init__(self, out, cfg):
    self.out, self.cfg = out, cfg
    if cfg.resume and not has_checkpoint(out):
      raise ConfigError(
        f"--resume: no checkpoint in {str(out)!r}; drop --resume to start a new run there."
      )
    if has_outputs(out) and not (cfg.resume or cfg.overwrite):
      rundir.refuse(out, "a gpt-train run", resume="--resume")
    if cfg.overwrite and devices.is_main_process():
      rundir.remove(out, OUTPUTS)
    # Every process has looked at the folder before process 0 writes to it (its checkpoint
    # folders would otherwise make a later-looking process see "a gpt-train run").
    devices.barrier("gpt-checked")
    self.last = checkpoint.manager(
      io.as_path(out) / "checkpoints" / "last", max_to_keep=cfg.keep_checkpoints
    )
    self.best = checkpoint.manager(io.as_path(out) / "checkpoints" / "best", max_to_keep=1)
    self.saved_meta = checkpoint.restore_meta(self.last) if cfg.resume else None
    self.best_loss = (
      checkpoint.restore_meta(self.best)["loss"]
      if cfg.resume and self.best.latest_step() is not None
      else math.inf
    )

  def __enter__(self):
    return self

  def __exit__(self, *_):
    self.last.close()
    self.best.close()

  def check_resume(self, vocab: str, text_sha256: str, model: dict, total_steps: int) -> None:
    """Refuses a resumed run whose settings would change its numbers, naming each flag."""
    saved = self.saved_meta
    if saved is None:
      return
    if saved["vocab"] != vocab or saved.get("text_sha256", text_sha256) != text_sha256:
      raise ConfigError(
        "--resume: the text differs from the one the run was started with; "
        "pass the same --txt-file."
      )
    saved_model = dataclasses.asdict(ModelConfig.from_dict(saved["model"]))
    diffs = rundir.settings_diff(model, saved_model, list(model), _MODEL_FLAGS)
    diffs += rundir.settings_diff(to_json(self.cfg), saved["config"], DECIDING)
    if self.cfg.lr_schedule != "constant" and saved["total_steps"] != total_steps:
      diffs.append(f"the {self.cfg.lr_schedule} schedule's steps {saved['total_steps']} there, "
                   f"{total_steps} here (--max-steps/--num-epochs)")  # fmt: skip
    if diffs:
      raise ConfigError(
        f"--resume: {str(self.out)!r} was started with other settings ({'; '.join(diffs)}); "
        "pass the flags it was started with, or another --out for a new run."
      )

  def meta(self, step: int, loss: float, **extra) -> dict:
    return {"config": to_json(self.cfg), "step": step, "loss": loss, **extra}

  def save(self, step: int, state, meta: dict) -> None:
    checkpoint.save(self.last, step, state, meta)

  def save_best(self, step: int, state, meta: dict, loss: float) -> bool:
    """Keeps `state` as the best when `loss` is lower than the best so far."""
    if not loss < self.best_loss:
      return False
    self.best_loss = loss
    checkpoint.save(self.best, step, state, {**meta, "loss": loss})
    return True

  def last_step(self):
    return self.last.latest_step()


def restore_run(run_dir, which: str = "best", step: int | None = None):
  """(model config, parameters, tokenizer, meta) of a run directory's best or last checkpoint
  (or of checkpoint `step` of those)."""
  from hw2_jax.gpt.config import Config
  from hw2_jax.gpt.optimizer import from_config
  from hw2_jax.gpt.tokenizer import CharTokenizer
  from hw2_jax.gpt.train import create_state

  ckpt_dir = io.as_path(run_dir) / "checkpoints" / which
  if not ckpt_dir.is_dir() or not any(p.name.isdigit() for p in ckpt_dir.iterdir()):
    raise ConfigError(
      f"--checkpoint {str(run_dir)!r} has no {which} checkpoint; pass the "
      "--out directory of a gpt-train run."
    )
  with contextlib.closing(checkpoint.manager(ckpt_dir, max_to_keep=None)) as mngr:
    if step is not None and step not in mngr.all_steps():
      raise ConfigError(f"--step {step}: {ckpt_dir} holds steps {list(mngr.all_steps())}.")
    meta = checkpoint.restore_meta(mngr, step)
    model_cfg = ModelConfig.from_dict(meta["model"])
    fields = {f.name for f in dataclasses.fields(Config)}
    saved = Config(**{k: v for k, v in meta["config"].items() if k in fields})
    template = create_state(model_cfg, from_config(saved, meta.get("total_steps", 1)), 0)
    state, _ = checkpoint.restore(mngr, template, step)
  return model_cfg, state.params, CharTokenizer(meta["vocab"]), meta


def newest_run(root="runs") -> str | None:
  """The most recently written gpt-train run folder under `root` (gpt-generate's default)."""
  runs = [
    p for p in io.as_path(root).glob("*")
    if p.is_dir() and rundir.owner(p) == "gpt-train" and has_checkpoint(p)
  ]  # fmt: skip
  newest = lambda p: (p / "checkpoints" / "last").stat().st_mtime
  return str(max(runs, key=newest)) if runs else None
