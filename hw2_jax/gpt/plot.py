"""The report's figures from a run's metrics.jsonl: loss and accuracy per step (with the
validation loss and accuracy when the run held text out) and per epoch, and epoch against
step."""

import numpy as np

from hw2_jax.core import io
from hw2_jax.core.errors import ConfigError
from hw2_jax.core.render import figure
from hw2_jax.gpt.metrics import METRICS_FILE, load_records


def _smooth(y, n):
  if len(y) < n or n < 2:
    return y
  return np.convolve(y, np.ones(n) / n, mode="valid")


def plot_run(run_dir, out_dir=None) -> list:
  path = io.as_path(run_dir) / METRICS_FILE
  if not path.is_file():
    raise ConfigError(
      f"no {METRICS_FILE} in {str(run_dir)!r}; pass the --out directory of a gpt-train run."
    )
  records = load_records(path)
  steps = [r for r in records if r["kind"] == "step"]
  epochs = [r for r in records if r["kind"] == "epoch"]
  evals = [r for r in records if r["kind"] == "eval"]
  if not steps:
    raise ConfigError(f"{str(run_dir)!r} has no logged training steps yet; train first.")
  out = io.ensure_writable_dir(out_dir or io.as_path(run_dir) / "plots")
  s = np.array([r["step"] for r in steps])
  window = max(1, len(s) // 50)
  paths = [out / "curves_step.png", out / "curves_epoch.png", out / "epoch_vs_step.png"]

  with figure(paths[0], 1, 2, figsize=(11, 4)) as (fig, axes):
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
        ax.plot(
          [r["step"] for r in evals],
          [r[f"val_{key}"] for r in evals],
          "o-",
          label="validation (held-out text)",
        )
      ax.set(xlabel="step", ylabel=label)
      ax.grid(alpha=0.3)
      ax.legend()
    fig.suptitle("micro-GPT training, per step")

  with figure(paths[1], 1, 2, figsize=(11, 4)) as (fig, axes):
    e = np.array([r["epoch"] for r in steps])
    for ax, key, label in (
      (axes[0], "loss", "training loss"),
      (axes[1], "acc", "training accuracy"),
    ):
      y = np.array([r[key] for r in steps])
      ax.plot(
        e[window - 1 :],
        _smooth(y, window),
        lw=1,
        alpha=0.6,
        label=f"per step (mean of {window})" if window > 1 else "per step",
      )
      complete = [r for r in epochs if r["complete"]]
      partial = [r for r in epochs if not r["complete"]]
      if complete:
        ax.plot(
          [r["epoch"] for r in complete],
          [r[key] for r in complete],
          "o-",
          label="mean over each epoch",
        )
      if partial:
        ax.plot(
          [r["epoch"] for r in partial],
          [r[key] for r in partial],
          "o",
          mfc="none",
          ms=8,
          label="mean over the last, partial epoch",
        )
      ax.legend()
      ax.set(xlabel="epoch", ylabel=label)
      ax.grid(alpha=0.3)
    fig.suptitle("micro-GPT training, per epoch")

  with figure(paths[2], figsize=(5.5, 4)) as (_, ax):
    ax.plot(s, [r["epoch"] for r in steps])
    ax.set(xlabel="step", ylabel="epoch", title="epoch against step")
    ax.grid(alpha=0.3)
  return paths
