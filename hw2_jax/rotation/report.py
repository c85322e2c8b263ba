"""The study's result files: JSON, markdown table, accuracy-vs-angle figure, sample grids.

A seed whose training loss became non-finite is listed in `diverged_seeds` and left out of
the mean and std (its per-seed accuracies stay in the JSON).
"""

import json

import jax.numpy as jnp
import numpy as np

from hw2_jax.core import io, rng
from hw2_jax.core.render import markdown_table, png
from hw2_jax.rotation.config import CLASSES
from hw2_jax.rotation.rotate import random_angles, rotate

JSON, MARKDOWN, FIGURE = "rotation_study.json", "rotation_study.md", "rotation_study.png"
SAMPLES = ("samples_plain.png", "samples_augmented.png")
FILES = (JSON, MARKDOWN, FIGURE, *SAMPLES)
# What a study JSON must hold (core/io.check_schema).
SCHEMA = {
  "config": {"seeds": int},
  "angles": [float],
  "models": {"*": {"accuracy": [float], "accuracy_per_seed": [[float]]}},
}
LABELS = {
  "plain": "trained on upright images",
  "augmented": "trained with RandomRotation(360)",
  "c4": "C4-equivariant, upright images",
  "c4-augmented": "C4-equivariant, RandomRotation(360)",
}


def model_entry(
  acc_AxS, losses_ExS, train_seconds: float, eval_seconds: float, params: int
) -> dict:
  """One model's JSON entry: accuracy per angle (mean and std over the seeds that stayed
  finite), per seed, the training loss per epoch, and one model's parameter count."""
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
    "params": int(params),
  }
  if diverged:
    entry["diverged_seeds"] = diverged
  return entry


def sample_indices(n: int, seed: int = 0, count: int = 25) -> np.ndarray:
  """The first `count` images of a fixed shuffled pass over the training set (an image
  folder is sorted by class, so its literal first images would all be airplanes)."""
  return np.random.default_rng(seed).permutation(n)[:count]


def samples(files: dict, train_split, cfg) -> None:
  """The sample grids: training images as each kind of model sees them."""
  images, labels = train_split
  first = sample_indices(len(labels), cfg.seed)
  angles = random_angles(
    rng.stream(rng.root(cfg.seed), "samples"), len(first), cfg.max_augment_angle
  )
  draw_samples(files, SAMPLES[0], images[first], labels[first])
  rotated = np.asarray(rotate(jnp.asarray(images[first]), angles))
  draw_samples(files, SAMPLES[1], rotated, labels[first], np.asarray(angles))


def draw_samples(files: dict, name: str, images_Nx32x32x3, labels_N, angles=None) -> None:
  n, cols = len(images_Nx32x32x3), 5
  rows = -(-n // cols)
  with png(files, name, rows, cols, figsize=(cols * 1.6, rows * 1.8)) as (fig, axes):
    for i, ax in enumerate(np.ravel(axes)):
      ax.axis("off")
      if i < n:
        ax.imshow(images_Nx32x32x3[i], interpolation="nearest")
        title = CLASSES[int(labels_N[i])]
        if angles is not None:
          title += f" ({float(angles[i]):+.0f}°)"
        ax.set_title(title, fontsize=8)
    fig.suptitle(
      "training images (first of a shuffled pass)"
      + (", randomly rotated" if angles is not None else ""),
      fontsize=9,
    )


def accuracy_figure(files: dict, result: dict) -> None:
  angles = result["angles"]
  seeds = result["config"]["seeds"]
  with png(files, FIGURE, figsize=(6.4, 4)) as (_, ax):
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
  sizes = [f"{n} {m['params']:,}" for n, m in result["models"].items() if "params" in m]
  if sizes:
    text += f"\nParameters per model: {', '.join(sizes)}.\n"
  diverged = {n: m["diverged_seeds"] for n, m in result["models"].items() if "diverged_seeds" in m}
  for n, ds in diverged.items():
    text += f"\n{n}: seed(s) {ds} diverged (non-finite training loss), left out of the means.\n"
  return text


def load(path) -> dict:
  """A study JSON, checked against SCHEMA (a damaged or foreign file is one line)."""
  fix = "pass --overwrite to start again, or another --out"
  return io.check_schema(io.read_json(path, "the study file", fix), SCHEMA, path, fix)


def outputs(result: dict, train_split, cfg) -> dict:
  """{file name: bytes} of the study's result files (written as one unit)."""
  files = {JSON: (json.dumps(result, indent=2) + "\n").encode(), MARKDOWN: table(result).encode()}
  accuracy_figure(files, result)
  samples(files, train_split, cfg)
  return files
