"""The study's result files: JSON (the data), Markdown and CSV tables, and a figure.

Rounds whose validation loss became non-finite (`diverged` in the JSON) are marked with `*`
and left out of the mean and std.
"""

import json

import numpy as np

from hw2_jax.core import io
from hw2_jax.core.render import markdown_table, png
from hw2_jax.padding.config import protocol_of

JSON, MARKDOWN, CSV, FIGURE = (
  "padding_study.json",
  "padding_study.md",
  "padding_study.csv",
  "padding_study.png",
)
FILES = (JSON, MARKDOWN, CSV, FIGURE)
# What a study JSON must hold (core/io.check_schema): per net and padding, the per-round lists.
SCHEMA = {
  "config": {"seeds": list, "epochs": int, "patience": int, "batch_size": int},
  "results": {"*": {"*": {"val": [float], "test": [float], "epochs": [int]}}},
}
ROW_ORDER = ("valid", "replicate", "reflect", "circular", "sconv", "fconv")
SPLITS = (
  ("val", "validation"),
  ("similar", "similar test (unshifted)"),
  ("test", "test (shifted)"),
)
PROTOCOL_LABELS = {
  "original": "validation = first training images, as the original",
  "clean": "clean protocol: validation, similar and shifted test sets each from a stream of "
  "their own",
  "independent validation": "independent validation set",
}


def _splits(by_conv: dict):
  """The (key, label) of the splits a study's entries hold (`similar` under clean)."""
  has = set().union(*(e.keys() for e in by_conv.values()))
  return [(k, label) for k, label in SPLITS if k in has]


def _rows(results: dict):
  return [c for c in ROW_ORDER if c in results]


def kept(entry: dict, split: str) -> np.ndarray:
  """The accuracies of the rounds that did not diverge."""
  acc = np.asarray(entry[split])
  return np.delete(acc, entry.get("diverged", []))


def markdown(study: dict) -> str:
  cfg = study["config"]
  rounds = cfg["seeds"] if isinstance(cfg["seeds"], int) else len(cfg["seeds"])
  val_label = PROTOCOL_LABELS[protocol_of(cfg)]
  gemms = f"; GEMMs in {cfg['precision']}" if cfg.get("precision", "fp32") != "fp32" else ""
  lines = [
    "# Padding study: accuracy (%) per round\n",
    f"{rounds} rounds (seeds 0..{rounds - 1}), up to {cfg['epochs']} epochs, "
    f"patience {cfg['patience']}, batch {cfg['batch_size']}; {val_label}{gemms}; "
    f"device: {study['device']}. Std is the population standard deviation.\n",
  ]
  footnote = False
  for net, by_conv in study["results"].items():
    n = len(next(iter(by_conv.values()))["test"])
    header = ["conv type", "split", *map(str, range(1, n + 1)), "mean", "std", "epochs"]
    rows = []
    for conv in _rows(by_conv):
      r = by_conv[conv]
      diverged = set(r.get("diverged", []))
      footnote |= bool(diverged)
      for split, label in _splits(by_conv):
        acc = kept(r, split)
        cells = [f"{a:.1f}" + ("*" if i in diverged else "") for i, a in enumerate(r[split])]
        epochs = f"{np.mean(r['epochs']):.1f}" if split == "val" else ""
        rows.append([conv, label, *cells, f"{acc.mean():.2f}", f"{acc.std():.2f}", epochs])
    lines += [f"## {net}\n", markdown_table(header, rows)]
  if footnote:
    lines.append(
      "\\* the validation loss of this round became non-finite: left out of the mean and std.\n"
    )
  return "\n".join(lines)


def compare(studies: dict) -> str:
  """A markdown table of several studies of the same protocol side by side, e.g. {"fp32":
  study, "bf16": study}: per net and padding the mean validation and shifted-test accuracy,
  the mean epochs and the configuration's seconds of each."""
  names = list(studies)
  header = ["net", "conv type"] + [
    f"{what} ({name})"
    for what in ("validation %", "shifted test %", "epochs", "seconds")
    for name in names
  ]
  first = studies[names[0]]["results"]
  rows = []
  for net, by_conv in first.items():
    for conv in _rows(by_conv):
      entries = [s["results"].get(net, {}).get(conv) for s in studies.values()]
      cell = lambda f, entries=entries: [f(e) if e else "" for e in entries]
      rows.append(
        [
          net,
          conv,
          *cell(lambda e: f"{kept(e, 'val').mean():.2f}"),
          *cell(lambda e: f"{kept(e, 'test').mean():.2f}"),
          *cell(lambda e: f"{np.mean(e['epochs']):.1f}"),
          *cell(lambda e: f"{e['seconds']:.0f}" if "seconds" in e else ""),
        ]
      )
  return markdown_table(header, rows, "ll" + "r" * (len(header) - 2))


def csv(study: dict) -> str:
  splits = [
    k
    for k, _ in _splits({c: e for by_conv in study["results"].values() for c, e in by_conv.items()})
  ]
  lines = ["net,conv_type,round," + ",".join(f"{k}_acc" for k in splits) + ",epochs"]
  for net, by_conv in study["results"].items():
    for conv in _rows(by_conv):
      r = by_conv[conv]
      for i, e in enumerate(r["epochs"]):
        lines.append(f"{net},{conv},{i}," + ",".join(str(r[k][i]) for k in splits) + f",{e}")
  return "\n".join(lines) + "\n"


def draw(axes, study: dict) -> None:
  """Per net, every round's validation and shifted-test accuracy and their means."""
  for ax, net in zip(axes, study["results"]):
    by_conv = study["results"][net]
    convs = _rows(by_conv)
    splits = _splits(by_conv)
    offsets = np.linspace(-0.2, 0.2, len(splits))
    for offset, (split, label) in zip(offsets, splits):
      color, marker = {"val": ("C0", "o"), "similar": ("C2", "^"), "test": ("C3", "s")}[split]
      for i, conv in enumerate(convs):
        acc = np.asarray(by_conv[conv][split])
        ax.scatter(
          np.full(acc.shape, i + offset),
          acc,
          marker=marker,
          alpha=0.6,
          color=color,
          label=label if i == 0 else None,
        )
        ax.hlines(
          kept(by_conv[conv], split).mean(), i + offset - 0.1, i + offset + 0.1, color=color
        )
    ax.axhline(50, color="gray", lw=0.8, ls=":")
    ax.set_xticks(range(len(convs)), convs)
    ax.set_title(net)
    ax.set_ylim(-2, 102)
    ax.grid(axis="y", alpha=0.3)


def load(path) -> dict:
  """A study JSON, checked against SCHEMA (a damaged or foreign file is one line)."""
  fix = "pass --overwrite to start again, or another --out"
  return io.check_schema(io.read_json(path, "the study file", fix), SCHEMA, path, fix)


def outputs(study: dict) -> dict:
  """{file name: bytes} of the study's four result files (written as one unit)."""
  files = {
    JSON: (json.dumps(study, indent=2) + "\n").encode(),
    MARKDOWN: markdown(study).encode(),
    CSV: csv(study).encode(),
  }
  nets = len(study["results"])
  with png(files, FIGURE, 1, nets, figsize=(6 * nets, 4), squeeze=False, sharey=True) as (
    fig,
    axes,
  ):
    draw(axes[0], study)
    axes[0][0].set_ylabel("accuracy per round (%), bar = mean")
    axes[0][0].legend(loc="lower left")
    fig.suptitle("Padding study: validation vs shifted-test accuracy")
  return files
