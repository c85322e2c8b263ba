"""The study's figure, table and sample grids."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from hw2_jax.core.io import save_figure  # pylint: disable=wrong-import-position

LABELS = {"plain": "trained on upright images", "augmented": "trained with RandomRotation(360)"}


def save_samples(path, images_Nx32x32x3, labels_N, classes, angles=None) -> None:
  n = len(images_Nx32x32x3)
  cols = 5
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.8))
  for i, ax in enumerate(np.ravel(axes)):
    ax.axis("off")
    if i < n:
      ax.imshow(images_Nx32x32x3[i], interpolation="nearest")
      title = classes[int(labels_N[i])]
      if angles is not None:
        title += f" ({float(angles[i]):+.0f}°)"
      ax.set_title(title, fontsize=8)
  fig.suptitle("training images (first of a shuffled pass)"
               + (", randomly rotated" if angles is not None else ""),
               fontsize=9)
  save_figure(path, fig)
  plt.close(fig)


def save_accuracy_figure(path, result: dict) -> None:
  angles = result["angles"]
  fig, ax = plt.subplots(figsize=(6.4, 4))
  for name, m in result["models"].items():
    mean = np.asarray(m["accuracy"])
    line, = ax.plot(angles, mean, marker="o", label=LABELS.get(name, name))
    per_seed = np.asarray(m["accuracy_per_seed"])
    if per_seed.shape[0] > 1:
      ax.fill_between(angles, per_seed.min(0), per_seed.max(0), color=line.get_color(),
                      alpha=0.2)
  seeds = result["config"]["seeds"]
  ax.set(xlabel="test rotation angle (degrees)", ylabel="test accuracy (%)",
         title="CIFAR-10 CNN accuracy vs rotation"
         + (f" (mean, band: min-max of {seeds} seeds)" if seeds > 1 else ""))
  if len(angles) > 1 and all(float(a).is_integer() for a in angles):
    ax.set_xticks(angles)
  ax.grid(alpha=0.3)
  ax.legend()
  save_figure(path, fig)
  plt.close(fig)


def table(result: dict) -> str:
  names = list(result["models"])
  seeds = result["config"]["seeds"]
  head = "| angle (°) | " + " | ".join(f"{n} accuracy (%)" for n in names) + " |"
  lines = [head, "|" + "---|" * (len(names) + 1)]
  for i, angle in enumerate(result["angles"]):
    cells = []
    for n in names:
      m = result["models"][n]
      cell = f"{m['accuracy'][i]:.2f}"
      if seeds > 1:
        cell += f" ± {m['accuracy_std'][i]:.2f}"
      cells.append(cell)
    lines.append(f"| {angle:g} | " + " | ".join(cells) + " |")
  note = f"\nMean over {seeds} seeds ± standard deviation.\n" if seeds > 1 else ""
  return "\n".join(lines) + "\n" + note
