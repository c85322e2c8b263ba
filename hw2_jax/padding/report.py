"""The study's result files: JSON (the data), Markdown and CSV tables, and a figure."""

from pathlib import Path

import numpy as np

from hw2_jax.core import io

JSON, MARKDOWN, CSV, FIGURE = ("padding_study.json", "padding_study.md", "padding_study.csv",
                               "padding_study.png")
ROW_ORDER = ("valid", "replicate", "reflect", "circular", "sconv", "fconv")
SPLITS = (("val", "validation"), ("test", "test (shifted)"))


def _rows(results: dict):
  return [c for c in ROW_ORDER if c in results]


def markdown(study: dict) -> str:
  cfg = study["config"]
  val_label = ("independent validation set" if cfg["independent_val"]
               else "validation = first training images, as the original")
  lines = ["# Padding study: accuracy (%) per round\n",
           f"{cfg['rounds']} rounds (seeds 0..{cfg['rounds'] - 1}), up to {cfg['epochs']} epochs, "
           f"patience {cfg['patience']}, batch {cfg['batch_size']}; {val_label}; "
           f"device: {study['device']}. Std is the population standard deviation.\n"]
  for net, by_conv in study["results"].items():
    rounds = len(next(iter(by_conv.values()))["test"])
    header = ["conv type", "split", *map(str, range(1, rounds + 1)), "mean", "std", "epochs"]
    lines += [f"## {net}\n", "| " + " | ".join(header) + " |",
              "|" + "---|" * len(header)]
    for conv in _rows(by_conv):
      r = by_conv[conv]
      for split, label in SPLITS:
        acc = np.asarray(r[split])
        epochs = f"{np.mean(r['epochs']):.1f}" if split == "val" else ""
        cells = [conv, label, *(f"{a:.1f}" for a in acc), f"{acc.mean():.2f}",
                 f"{acc.std():.2f}", epochs]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
  return "\n".join(lines)


def csv(study: dict) -> str:
  lines = ["net,conv_type,round,val_acc,test_acc,epochs"]
  for net, by_conv in study["results"].items():
    for conv in _rows(by_conv):
      r = by_conv[conv]
      for i, (v, t, e) in enumerate(zip(r["val"], r["test"], r["epochs"])):
        lines.append(f"{net},{conv},{i},{v},{t},{e}")
  return "\n".join(lines) + "\n"


def figure(study: dict):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  nets = list(study["results"])
  fig, axes = plt.subplots(1, len(nets), figsize=(6 * len(nets), 4), squeeze=False, sharey=True)
  for ax, net in zip(axes[0], nets):
    by_conv = study["results"][net]
    convs = _rows(by_conv)
    for offset, (split, label), marker in zip((-0.15, 0.15), SPLITS, ("o", "s")):
      for i, conv in enumerate(convs):
        acc = np.asarray(by_conv[conv][split])
        ax.scatter(np.full(acc.shape, i + offset), acc, marker=marker, alpha=0.6,
                   color="C0" if split == "val" else "C3", label=label if i == 0 else None)
        ax.hlines(acc.mean(), i + offset - 0.12, i + offset + 0.12,
                  color="C0" if split == "val" else "C3")
    ax.axhline(50, color="gray", lw=0.8, ls=":")
    ax.set_xticks(range(len(convs)), convs)
    ax.set_title(net)
    ax.set_ylim(-2, 102)
    ax.grid(axis="y", alpha=0.3)
  axes[0][0].set_ylabel("accuracy per round (%), bar = mean")
  axes[0][0].legend(loc="lower left")
  fig.suptitle("Padding study: validation vs shifted-test accuracy")
  return fig


def write_all(out: Path, study: dict) -> None:
  import matplotlib.pyplot as plt

  out = Path(out)
  io.write_json(out / JSON, study)
  io.write_text(out / MARKDOWN, markdown(study))
  io.write_text(out / CSV, csv(study))
  fig = figure(study)
  io.save_figure(out / FIGURE, fig)
  plt.close(fig)
