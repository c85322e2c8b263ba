"""A run's figures from its metrics.jsonl: loss and accuracy per step (with the validation
loss and accuracy when the run held text out) and per epoch, and epoch against step. Every
record is checked (`SCHEMA`) before any drawing, so a foreign or damaged log is one line."""

import json

import numpy as np

from hw2_jax.core import io, rundir
from hw2_jax.core.errors import ConfigError
from hw2_jax.core.render import png
from hw2_jax.gpt.config import MODEL_TYPES
from hw2_jax.gpt.metrics import METRICS_FILE, load_records

FILES = ("curves_step.png", "curves_epoch.png", "epoch_vs_step.png")
SCHEMA = {
  "step": {"step": int, "epoch": float, "loss": float, "acc": float},
  "epoch": {"step": int, "epoch": float, "complete": bool, "loss": float, "acc": float},
  "eval": {"step": int, "val_loss": float, "val_acc": float},
  "sample": {"step": int, "samples": [str]},
}


def model_name(run_dir) -> str:
  """The run's model for titles: its model type when the sizes are one, else its sizes."""
  try:
    m = json.loads((io.as_path(run_dir) / "summary.json").read_text())["model"]
    sizes = (m["n_layer"], m["n_head"], m["n_embd"])
  except (OSError, ValueError, KeyError, TypeError):
    return "GPT"
  names = [k for k, v in MODEL_TYPES.items() if v == sizes]
  return names[0] if names else "GPT {} layers x {} heads x {}".format(*sizes)


def _records(path) -> list[dict]:
  fix = "pass the --out directory of a gpt-train run"
  records = load_records(path)
  for i, r in enumerate(records):
    io.check_schema(r, {"kind": str}, path, fix)
    if r["kind"] in SCHEMA:
      io.check_schema(r, SCHEMA[r["kind"]], f"{path} line {i + 1}", fix)
  return records


def _smooth(y, n):
  if len(y) < n or n < 2:
    return y
  return np.convolve(y, np.ones(n) / n, mode="valid")


def plot_run(run_dir, out_dir=None, log=print) -> None:
  """Writes the three figures of run folder `run_dir` into `out_dir` (default RUN/plots)."""
  path = io.as_path(run_dir) / METRICS_FILE
  if not path.is_file():
    raise ConfigError(
      f"no {METRICS_FILE} in {str(run_dir)!r}; pass the --out directory of a gpt-train run."
    )
  records = _records(path)
  by_kind = {k: [r for r in records if r["kind"] == k] for k in ("step", "epoch", "eval")}
  if not by_kind["step"]:
    raise ConfigError(f"{str(run_dir)!r} has no logged training steps yet; train first.")
  out = io.ensure_writable_dir(out_dir or io.as_path(run_dir) / "plots")
  files, name = {}, model_name(run_dir)
  _per_step(files, name, by_kind["step"], by_kind["eval"])
  _per_epoch(files, name, by_kind["step"], by_kind["epoch"])
  with png(files, FILES[2], figsize=(5.5, 4)) as (_, ax):
    ax.plot([r["step"] for r in by_kind["step"]], [r["epoch"] for r in by_kind["step"]])
    ax.set(xlabel="step", ylabel="epoch", title="epoch against step")
    ax.grid(alpha=0.3)
  rundir.write_outputs(out, files, log)


def _window(steps) -> int:
  """Steps per point of the smoothed curves: about 50 points."""
  return max(1, len(steps) // 50)


def _per_step(files: dict, name: str, steps, evals) -> None:
  s, window = np.array([r["step"] for r in steps]), _window(steps)
  with png(files, FILES[0], 1, 2, figsize=(11, 4)) as (fig, axes):
    for ax, key, label in (
      (axes[0], "loss", "loss (cross-entropy, nats)"),
      (axes[1], "acc", "next-character accuracy"),
    ):
      y = np.array([r[key] for r in steps])
      ax.plot(s, y, lw=0.6, alpha=0.4, label="training, per step")
      if window > 1:
        ax.plot(
          s[window - 1 :], _smooth(y, window), lw=1.5, label=f"training, mean of {window} steps"
        )
      if evals:
        ax.plot([r["step"] for r in evals], [r[f"val_{key}"] for r in evals], "o-",
                label="validation (held-out text)")  # fmt: skip
      ax.set(xlabel="step", ylabel=label)
      ax.grid(alpha=0.3)
      ax.legend()
    fig.suptitle(f"{name} training, per step")


def _per_epoch(files: dict, name: str, steps, epochs) -> None:
  e, window = np.array([r["epoch"] for r in steps]), _window(steps)
  complete = [r for r in epochs if r["complete"]]
  partial = [r for r in epochs if not r["complete"]]
  with png(files, FILES[1], 1, 2, figsize=(11, 4)) as (fig, axes):
    for ax, key, label in (
      (axes[0], "loss", "training loss"),
      (axes[1], "acc", "training accuracy"),
    ):
      y = np.array([r[key] for r in steps])
      ax.plot(e[window - 1 :], _smooth(y, window), lw=1, alpha=0.6,
              label=f"per step (mean of {window})" if window > 1 else "per step")  # fmt: skip
      if complete:
        ax.plot([r["epoch"] for r in complete], [r[key] for r in complete], "o-",
                label="mean over each epoch")  # fmt: skip
      if partial:
        ax.plot([r["epoch"] for r in partial], [r[key] for r in partial], "o", mfc="none", ms=8,
                label="mean over the last, partial epoch")  # fmt: skip
      ax.legend()
      ax.set(xlabel="epoch", ylabel=label)
      ax.grid(alpha=0.3)
    fig.suptitle(f"{name} training, per epoch")
