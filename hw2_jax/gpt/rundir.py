"""A gpt-train run directory: its checkpoints, what they record, and what may continue them.

OUT/checkpoints/last keeps the last --keep-checkpoints states, OUT/checkpoints/best the one
with the lowest validation loss (training loss when no text is held out). Each checkpoint's
metadata holds the run's config, the model config, the vocabulary, the text's digest and the
planned number of steps, which is what `check_resume` compares: a resumed run may change how
it logs, samples and checkpoints, and how far it goes, but not what decides its numbers.
"""

import dataclasses
import math

from hw2_jax.core import checkpoint, devices, io, rundir
from hw2_jax.core.errors import ConfigError
from hw2_jax.gpt.config import DECIDING, ModelConfig, to_dict

OUTPUTS = ("checkpoints", "metrics.jsonl", "summary.json", "tb", "plots")


def has_run(out) -> bool:
  last = io.as_path(out) / "checkpoints" / "last"
  return last.is_dir() and any(p.name.isdigit() for p in last.iterdir())


class RunDir:
  def __init__(self, out, cfg):
    """Opens OUT for `cfg`: refuses to write over a run, or to resume none."""
    self.out, self.cfg = out, cfg
    if cfg.resume and not has_run(out):
      raise ConfigError(
        f"--resume: no checkpoint in {str(out)!r}; drop --resume to start a new run there."
      )
    if has_run(out) and not cfg.resume:
      if not cfg.overwrite:
        rundir.refuse_existing(out, "a gpt-train run")
    if cfg.overwrite:
      if devices.is_main_process():
        rundir.remove(out, OUTPUTS)
      devices.barrier("gpt-overwrite")
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

  def check_resume(self, vocab: str, text_sha256: str, model: dict, total_steps: int) -> None:
    """Refuses a resumed run whose settings would change its numbers, naming the flag."""
    saved = self.saved_meta
    if saved is None:
      return
    if saved["vocab"] != vocab or saved.get("text_sha256", text_sha256) != text_sha256:
      raise ConfigError(
        "--resume: the text differs from the one the run was started with; "
        "pass the same --txt-file."
      )
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    for key, value in model.items():
      if saved["model"].get(key, defaults.get(key)) != value:
        flag = {
          "n_layer": "--n-layer",
          "n_head": "--n-head",
          "n_embd": "--n-embd",
          "dtype": "--precision",
          "vocab_size": "--txt-file",
        }.get(key, "--" + key.replace("_", "-"))
        raise ConfigError(
          f"--resume: {flag} gives {key} {value}, the checkpoint has "
          f"{saved['model'].get(key)}; pass the model flags the run was "
          "started with."
        )
    for key in DECIDING:
      ours, theirs = getattr(self.cfg, key), saved["config"].get(key)
      if ours != theirs:
        raise ConfigError(
          f"--resume: --{key.replace('_', '-')} {ours} differs from the run's "
          f"{theirs}; pass {theirs} (or start a new run with another --out)."
        )
    if self.cfg.lr_schedule != "constant" and saved["total_steps"] != total_steps:
      raise ConfigError(
        f"--resume: the {self.cfg.lr_schedule} schedule was planned for "
        f"{saved['total_steps']} steps, these flags give {total_steps}; pass "
        "the --max-steps/--num-epochs the run was started with."
      )

  def meta(self, step: int, loss: float, **extra) -> dict:
    return {"config": to_dict(self.cfg), "step": step, "loss": loss, **extra}

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
