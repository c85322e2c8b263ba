"""The report's figures from a run's metrics.jsonl: loss and accuracy per step and per
epoch, and epoch against step."""

import json
from pathlib import Path

import numpy as np

from hw2_jax.core.errors import ConfigError
from hw2_jax.core.io import ensure_writable_dir, save_figure
from hw2_jax.gpt.train import METRICS_FILE


def load_records(run_dir) -> list[dict]:
  path = Path(run_dir) / METRICS_FILE
  if not path.is_file():
    raise ConfigError(f"no {METRICS_FILE} in {str(run_dir)!r}; pass the --out directory of a "
                      "gpt-train run.")
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _smooth(y, n):
  if len(y) < n or n < 2:
    return y
  return np.convolve(y, np.ones(n) / n, mode="valid")


def plot_run(run_dir, out_dir=None) -> list[Path]:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  records = load_records(run_dir)
  steps = [r for r in records if r["kind"] == "step"]
  epochs = [r for r in records if r["kind"] == "epoch"]
  if not steps:
    raise ConfigError(f"{str(run_dir)!r} has no logged training steps yet; train first.")
  out = ensure_writable_dir(out_dir or Path(run_dir) / "plots")
  s = np.array([r["step"] for r in steps])
  window = max(1, len(s) // 50)
  paths = []

  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for ax, key, label in ((axes[0], "loss", "training loss (cross-entropy, nats)"),
                         (axes[1], "acc", "training next-character accuracy")):
    y = np.array([r[key] for r in steps])
    ax.plot(s, y, lw=0.6, alpha=0.4, label="per step")
    if window > 1:
      ax.plot(s[window - 1:], _smooth(y, window), lw=1.5, label=f"mean of {window} steps")
    ax.set(xlabel="step", ylabel=label)
    ax.grid(alpha=0.3)
    ax.legend()
  fig.suptitle("micro-GPT training, per step")
  paths.append(out / "curves_step.png")
  save_figure(paths[-1], fig)
  plt.close(fig)

  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  e = np.array([r["epoch"] for r in steps])
  for ax, key, label in ((axes[0], "loss", "training loss"), (axes[1], "acc", "training accuracy")):
    y = np.array([r[key] for r in steps])
    ax.plot(e[window - 1:], _smooth(y, window), lw=1, alpha=0.6,
            label=f"per step (mean of {window})" if window > 1 else "per step")
    complete = [r for r in epochs if r["complete"]]
    partial = [r for r in epochs if not r["complete"]]
    if complete:
      ax.plot([r["epoch"] for r in complete], [r[key] for r in complete], "o-",
              label="mean over each epoch")
    if partial:
      ax.plot([r["epoch"] for r in partial], [r[key] for r in partial], "o", mfc="none",
              ms=8, label="mean over the last, partial epoch")
    ax.legend()
    ax.set(xlabel="epoch", ylabel=label)
    ax.grid(alpha=0.3)
  fig.suptitle("micro-GPT training, per epoch")
  paths.append(out / "curves_epoch.png")
  save_figure(paths[-1], fig)
  plt.close(fig)

  fig, ax = plt.subplots(figsize=(5.5, 4))
  ax.plot(s, [r["epoch"] for r in steps])
  ax.set(xlabel="step", ylabel="epoch", title="epoch against step")
  ax.grid(alpha=0.3)
  paths.append(out / "epoch_vs_step.png")
  save_figure(paths[-1], fig)
  plt.close(fig)
  return paths
