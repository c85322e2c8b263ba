"""Question 2.7's figures: each run's training loss per step (and per epoch where it has whole
epochs), and the tiny-Shakespeare run against nanoGPT's log; losses in nats, with bits per
character on the right axis."""

import numpy as np

from hw2_jax.core.render import png
from hw2_jax.report.gpt import LN2, bits, step_records


def _bits_axis(ax) -> None:
  ax.secondary_yaxis("right", functions=(bits, lambda b: b * LN2)).set_ylabel("bits per character")


def draw_run(files: dict, figure: str, name: str, run: dict) -> None:
  steps = step_records(run["records"])
  s = np.array([r["step"] for r in steps])
  loss = np.array([r["loss"] for r in steps])
  window = max(1, len(s) // 50)
  with png(files, figure, figsize=(7, 4)) as (_, ax):
    ax.plot(s, loss, lw=0.6, alpha=0.4, color="C0", label="per step")
    if window > 1:
      smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
      ax.plot(s[window - 1 :], smooth, lw=1.5, color="C0", label=f"mean of {window} steps")
    ax.set(xlabel="step", ylabel="training loss (nats)", title=f"micro-GPT, {name}: loss per step")
    _bits_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend()


def draw_epochs(files: dict, figure: str, name: str, per_epoch: list) -> None:
  with png(files, figure, figsize=(6, 4)) as (_, ax):
    ax.plot([e["epoch"] for e in per_epoch], [e["loss_nats"] for e in per_epoch], "o-")
    ax.set_xticks([e["epoch"] for e in per_epoch])
    ax.set(
      xlabel="epoch", ylabel="mean training loss (nats)", title=f"micro-GPT, {name}: per epoch"
    )
    _bits_axis(ax)
    ax.grid(alpha=0.3)


def draw_vs_nanogpt(files: dict, figure: str, run: dict, nanogpt: dict) -> None:
  evals = [r for r in run["records"] if r["kind"] == "eval"]
  with png(files, figure, figsize=(7, 4)) as (_, ax):
    steps = step_records(run["records"])
    s = np.array([r["step"] for r in steps])
    loss = np.array([r["loss"] for r in steps])
    window = max(1, len(s) // 40)
    if window > 1:
      loss = np.convolve(loss, np.ones(window) / window, mode="valid")
      s = s[window - 1 :]
    ax.plot(s, loss, lw=1, color="C0", alpha=0.6, label=f"hw2_jax training (mean of {window})")
    ax.plot(
      [r["step"] for r in evals],
      [r["val_loss"] for r in evals],
      "o-",
      color="C0",
      label="hw2_jax validation",
    )
    ax.plot(
      [e[0] for e in nanogpt["evals"]],
      [e[1] for e in nanogpt["evals"]],
      "s--",
      color="C3",
      alpha=0.6,
      label="nanoGPT training (its estimate)",
    )
    ax.plot(
      [e[0] for e in nanogpt["evals"]],
      [e[2] for e in nanogpt["evals"]],
      "s-",
      color="C3",
      label="nanoGPT validation",
    )
    ax.set(xlabel="step", ylabel="loss (nats)", title="nanoGPT's CPU recipe, tiny Shakespeare")
    ax.set_ylim(1.4, 3.0)
    _bits_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def draw(files: dict, runs: dict, numbers: dict, shakespeare, nanogpt) -> dict:
  """Draws every figure of the section into `files` (PNG bytes); returns {key: file name}
  ("run:NAME", "epochs:NAME", "vs_nanogpt"), the names the section links. `runs`: {name: run}
  of the runs present, `numbers`: gpt.run_numbers per name."""
  names = {}
  for name, run in runs.items():
    names[f"run:{name}"] = f"gpt_{name}_loss.png"
    draw_run(files, names[f"run:{name}"], name, run)
    if numbers[name]["per_epoch"]:
      names[f"epochs:{name}"] = f"gpt_{name}_epochs.png"
      draw_epochs(files, names[f"epochs:{name}"], name, numbers[name]["per_epoch"])
  if shakespeare and nanogpt:
    names["vs_nanogpt"] = "gpt_vs_nanogpt.png"
    draw_vs_nanogpt(files, names["vs_nanogpt"], shakespeare, nanogpt)
  return names
