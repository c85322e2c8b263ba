"""The study's result files: JSON, markdown table, accuracy-vs-angle figure, sample grids.

A seed whose training loss became non-finite is listed in `diverged_seeds` and left out of
the mean and std (its per-seed accuracies stay in the JSON).
"""

import numpy as np

from hw2_jax.core import io
from hw2_jax.core.render import figure, markdown_table

JSON, MARKDOWN, FIGURE = "rotation_study.json", "rotation_study.md", "rotation_study.png"
LABELS = {"plain": "trained on upright images", "augmented": "trained with RandomRotation(360)"}


def model_entry(acc_AxS, losses_ExS, train_seconds: float, eval_seconds: float) -> dict:
  """One model's JSON entry: accuracy per angle (mean and std over the seeds that stayed
  finite), per seed, and the training loss per epoch."""
  diverged = [int(s) for s in np.flatnonzero(~np.all(np.isfinite(losses_ExS), axis=0))]
  kept = np.delete(acc_AxS, diverged, axis=1) if len(diverged) < acc_AxS.shape[1] else acc_AxS
  entry = {
    "accuracy": kept.mean(axis=1).round(4).tolist(),
    "accuracy_std": kept.std(axis=1).round(4).tolist(),
    "accuracy_per_seed": acc_AxS.T.round(4).tolist(),
    "train_loss_per_epoch": losses_ExS.mean(axis=1).round(6).tolist(),
    "train_loss_per_epoch_per_seed": losses_ExS.T.round(6).tolist(),
    "train_seconds": round(float(train_seconds), 1),
    "eval_seconds": round(float(eval_seconds), 1),
  }
  if diverged:
    entry["diverged_seeds"] = diverged
  return entry


def save_samples(path, images_Nx32x32x3, labels_N, classes, angles=None) -> None:
  n, cols = len(images_Nx32x32x3), 5
  rows = -(-n // cols)
  with figure(path, rows, cols, figsize=(cols * 1.6, rows * 1.8)) as (fig, axes):
    for i, ax in enumerate(np.ravel(axes)):
      ax.axis("off")
      if i < n:
        ax.imshow(images_Nx32x32x3[i], interpolation="nearest")
        title = classes[int(labels_N[i])]
        if angles is not None:
          title += f" ({float(angles[i]):+.0f}°)"
        ax.set_title(title, fontsize=8)
    fig.suptitle(
      "training images (first of a shuffled pass)"
      + (", randomly rotated" if angles is not None else ""),
      fontsize=9,
    )


def save_accuracy_figure(path, result: dict) -> None:
  angles = result["angles"]
  seeds = result["config"]["seeds"]
  with figure(path, figsize=(6.4, 4)) as (_, ax):
    for name, m in result["models"].items():
      (line,) = ax.plot(angles, np.asarray(m["accuracy"]), marker="o", label=LABELS.get(name, name))
      per_seed = np.asarray(m["accuracy_per_seed"])
      if per_seed.shape[0] > 1:
        ax.fill_between(angles, per_seed.min(0), per_seed.max(0), color=line.get_color(), alpha=0.2)
    ax.set(
      xlabel="test rotation angle (degrees)",
      ylabel="test accuracy (%)",
      title="CIFAR-10 CNN accuracy vs rotation"
      + (f" (mean, band: min-max of {seeds} seeds)" if seeds > 1 else ""),
    )
    if len(angles) > 1 and all(float(a).is_integer() for a in angles):
      ax.set_xticks(angles)
    ax.grid(alpha=0.3)
    ax.legend()


def table(result: dict) -> str:
  names = list(result["models"])
  seeds = result["config"]["seeds"]
  rows = []
  for i, angle in enumerate(result["angles"]):
    cells = []
    for n in names:
      m = result["models"][n]
      cell = f"{m['accuracy'][i]:.2f}"
      if seeds > 1:
        cell += f" ± {m['accuracy_std'][i]:.2f}"
      cells.append(cell)
    rows.append([f"{angle:g}", *cells])
  text = markdown_table(
    ["angle (°)", *(f"{n} accuracy (%)" for n in names)], rows, "l" * (len(names) + 1)
  )
  if seeds > 1:
    text += f"\nMean over {seeds} seeds ± standard deviation.\n"
  diverged = {n: m["diverged_seeds"] for n, m in result["models"].items() if "diverged_seeds" in m}
  for n, ds in diverged.items():
    text += f"\n{n}: seed(s) {ds} diverged (non-finite training loss), left out of the means.\n"
  return text


def write_all(out, result: dict) -> None:
  out = io.as_path(out)
  io.write_json(out / JSON, result)
  io.write_text(out / MARKDOWN, table(result))
  save_accuracy_figure(out / FIGURE, result)
