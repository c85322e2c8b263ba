"""Question 2.7 of the report: the micro-GPT's training curves per step (and per epoch where a
run has whole epochs), its losses in nats and in bits per character (bits = nats / ln 2), two
samples, and the comparison with nanoGPT on its CPU recipe.

nanoGPT's numbers come from its own log (bench/nanogpt_recipe.log: evaluations, and
/usr/bin/time -v's wall time and maximum resident set size), never from the `nanogpt` block of
bench/gpt_recipe.json. Peak memory is in GiB (KiB / 1024^2), the unit of gpt_recipe.json's
`peak_rss_gb` (ru_maxrss / 1024^2).
"""

import math

import numpy as np

from hw2_jax.core.render import figure, markdown_table

LN2 = math.log(2)
TAIL = 50  # the last steps averaged for a run's final loss


def bits(nats: float) -> float:
  return nats / LN2


def _steps(records: list) -> list:
  return [r for r in records if r["kind"] == "step"]


def parse_samples(text: str) -> list:
  """[(decoding, text)] of a samples.txt: '=== decoding (flags)' blocks of '--- sample i'."""
  out = []
  for block in text.split("\n=== "):
    block = block.removeprefix("=== ")
    head, _, body = block.partition("\n")
    decoding = head.split(" (")[0].strip()
    for part in body.split("--- sample ")[1:]:
      out.append((decoding, part.partition("\n")[2].strip("\n")))
  return out


def pick_samples(run: dict, k: int = 2) -> list:
  """`k` samples of the run's last checkpoint: one per sampled (not greedy) decoding first."""
  if run["samples"]:
    parsed = parse_samples(run["samples"])
    firsts = [s for i, s in enumerate(parsed) if s[0] not in {d for d, _ in parsed[:i]}]
    chosen = [s for s in firsts if s[0] != "greedy"]
    chosen += [s for s in parsed if s not in chosen]
    if chosen:
      return [{"decoding": d, "text": t} for d, t in chosen[:k]]
  texts = run["summary"].get("samples") or next(
    (r["samples"] for r in reversed(run["records"]) if r["kind"] == "sample"), []
  )
  return [{"decoding": "as logged during training", "text": t} for t in texts[:k]]


def run_numbers(run: dict) -> dict:
  steps = _steps(run["records"])
  loss = np.array([r["loss"] for r in steps])
  acc = np.array([r.get("acc", np.nan) for r in steps])
  tail = slice(-min(TAIL, len(steps)), None)
  summary = run["summary"]
  epochs = [r for r in run["records"] if r["kind"] == "epoch"]
  out = {
    "steps": steps[-1]["step"],
    "epochs": steps[-1].get("epoch"),
    "steps_per_epoch": summary.get("steps_per_epoch"),
    "vocab_size": summary.get("model", {}).get("vocab_size"),
    "params": summary.get("params"),
    "loss_nats": {
      "first": float(loss[0]),
      "last": float(loss[-1]),
      f"mean_last_{min(TAIL, len(steps))}": float(loss[tail].mean()),
    },
    "acc_mean_last": float(np.nanmean(acc[tail])) if np.isfinite(acc[tail]).any() else None,
    "per_epoch": [
      {"epoch": i + 1, "loss_nats": r["loss"], "loss_bits": bits(r["loss"]), "acc": r.get("acc")}
      for i, r in enumerate(e for e in epochs if e.get("complete"))
    ],
    "partial_epoch": next(
      (
        {"epoch": r.get("epoch"), "loss_nats": r["loss"], "loss_bits": bits(r["loss"])}
        for r in reversed(epochs)
        if not r.get("complete")
      ),
      None,
    ),
    "samples": pick_samples(run),
    "notes": list(run["warnings"]),  # e.g. a torn last line of metrics.jsonl, skipped
  }
  out["loss_bits"] = {k: bits(v) for k, v in out["loss_nats"].items()}
  return out


def comparison(recipe: dict | None, nanogpt: dict | None, anchors: dict) -> list:
  """The nanoGPT comparison rows: nanoGPT's run, this project's rows, nanoGPT's README."""
  rows = []
  wall = None
  if nanogpt is not None:
    step, _, val = nanogpt["evals"][-1]
    wall = nanogpt["wall_s"]
    rows.append(
      {
        "run": f"nanoGPT train.py (step {step})",
        "val_loss_nats": val,
        "wall_s": wall,
        "peak_rss_gib": nanogpt["peak_rss_kib"] / 1024**2,
      }
    )
  for r in (recipe or {}).get("rows", []):
    rows.append(
      {
        "run": f"hw2_jax {r['variant']}, {r['run']}",
        "val_loss_nats": r["val_loss"],
        "wall_s": r["wall_s"],
        "peak_rss_gib": r["peak_rss_gb"],
      }
    )
  rows.append({"run": anchors["nanogpt"]["label"], "val_loss_nats": anchors["nanogpt"]["val_loss"]})
  for r in rows:
    r["val_loss_bits"] = bits(r["val_loss_nats"])
    if wall and "wall_s" in r:
      r["wall_vs_nanogpt"] = r["wall_s"] / wall
  return rows


def _bits_axis(ax) -> None:
  ax.secondary_yaxis("right", functions=(bits, lambda b: b * LN2)).set_ylabel("bits per character")


def draw_run(path, name: str, run: dict) -> None:
  steps = _steps(run["records"])
  s = np.array([r["step"] for r in steps])
  loss = np.array([r["loss"] for r in steps])
  window = max(1, len(s) // 50)
  with figure(path, figsize=(7, 4)) as (_, ax):
    ax.plot(s, loss, lw=0.6, alpha=0.4, color="C0", label="per step")
    if window > 1:
      smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
      ax.plot(s[window - 1 :], smooth, lw=1.5, color="C0", label=f"mean of {window} steps")
    ax.set(xlabel="step", ylabel="training loss (nats)", title=f"micro-GPT, {name}: loss per step")
    _bits_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend()


def draw_epochs(path, name: str, per_epoch: list) -> None:
  with figure(path, figsize=(6, 4)) as (_, ax):
    ax.plot([e["epoch"] for e in per_epoch], [e["loss_nats"] for e in per_epoch], "o-")
    ax.set_xticks([e["epoch"] for e in per_epoch])
    ax.set(
      xlabel="epoch", ylabel="mean training loss (nats)", title=f"micro-GPT, {name}: per epoch"
    )
    _bits_axis(ax)
    ax.grid(alpha=0.3)


def draw_vs_nanogpt(path, run: dict, nanogpt: dict) -> None:
  evals = [r for r in run["records"] if r["kind"] == "eval"]
  with figure(path, figsize=(7, 4)) as (_, ax):
    steps = _steps(run["records"])
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


def _f(v, fmt: str) -> str:
  return "" if v is None else format(v, fmt)


def markdown(numbers: dict, sources: dict, figures: dict) -> str:
  """`sources`: key -> load.source (with "present"); `figures`: key -> figure file name."""
  out = ["## Question 2.7: the micro-GPT\n"]
  for src in sources.values():
    state = "" if src["present"] else " — **not run yet**"
    out.append(f"- `{src['path']}`{state}; command: `{src['command']}`; machine: {src['machine']}.")
  out.append("")
  for name, run in numbers["runs"].items():
    n_tail = next(k for k in run["loss_nats"] if k.startswith("mean_last"))
    params = f"{run['params']:,} parameters, " if run.get("params") else ""
    epochs = f" ({run['epochs']:.3f} epochs)" if run.get("epochs") is not None else ""
    out.append(f"### {name}: {params}{run['steps']} steps{epochs}\n")
    out.append(f"![{name} loss per step]({figures[f'run:{name}']})\n")
    out += [f"Note: {note.removeprefix('warning: ')}.\n" for note in run["notes"]]
    rows = []
    if run.get("vocab_size"):
      v = run["vocab_size"]
      rows.append(
        [f"uniform guess over {v} characters (ln {v})", f"{math.log(v):.3f}", f"{math.log2(v):.3f}"]
      )
    labels = {
      "first": "first step",
      "last": "last step",
      n_tail: f"mean of the last {n_tail.rsplit('_', 1)[1]} steps",
    }
    for key, label in labels.items():
      rows.append([label, f"{run['loss_nats'][key]:.3f}", f"{run['loss_bits'][key]:.3f}"])
    if run["partial_epoch"]:
      pe = run["partial_epoch"]
      rows.append(
        [
          f"mean over the run's unfinished epoch (to epoch {pe['epoch']:.3f})",
          f"{pe['loss_nats']:.3f}",
          f"{pe['loss_bits']:.3f}",
        ]
      )
    out.append(
      "Training loss (cross-entropy per character):\n\n"
      + markdown_table(["", "nats", "bits/char"], rows, "lrr")
    )
    if run.get("acc_mean_last") is not None:
      out.append(
        f"\nNext-character accuracy, mean of the last steps: {run['acc_mean_last']:.3f}.\n"
      )
    if run["per_epoch"]:
      rows = [
        [e["epoch"], f"{e['loss_nats']:.3f}", f"{e['loss_bits']:.3f}", _f(e.get("acc"), ".3f")]
        for e in run["per_epoch"]
      ]
      out.append(
        "Per epoch:\n\n"
        + markdown_table(["epoch", "loss (nats)", "bits/char", "accuracy"], rows, "rrrr")
      )
      out.append(f"![{name} per epoch]({figures[f'epochs:{name}']})\n")
    else:
      spe = f" of {run['steps_per_epoch']:,} steps" if run.get("steps_per_epoch") else ""
      out.append(
        f"\nThe run holds no whole epoch (one epoch{spe}), so there is no per-epoch curve.\n"
      )
    for i, s in enumerate(run["samples"], start=1):
      out.append(f"Sample {i} ({s['decoding']}):\n\n```text\n{s['text']}\n```\n")
  for key, command in numbers["awaited"].items():
    out.append(
      f"**The assignment's 5-epoch gpt-mini run ({key}) awaits a GPU or TPU**: it is not run "
      f"on this project's CPU. Its command (gpt-train's defaults are the assignment's "
      f"gpt-mini, 5 epochs): `{command}`.\n"
    )
  rows = numbers["nanogpt_comparison"]
  if len(rows) > 1:
    out.append("### Against nanoGPT on its CPU recipe\n")
    out.append(
      "Tiny Shakespeare, 4 layers x 4 heads x 128, context 64, batch 12, 2,000 steps, cosine "
      "schedule, validation on the last 10% of the text; measured back to back on the 2-core "
      "CPU. Loss in nats and bits per character; wall time of the whole command.\n"
    )
    body = [
      [
        r["run"],
        f"{r['val_loss_nats']:.3f}",
        f"{r['val_loss_bits']:.3f}",
        _f(r.get("wall_s"), ".1f"),
        _f(r.get("peak_rss_gib"), ".2f"),
        _f(r.get("wall_vs_nanogpt"), ".2f"),
      ]
      for r in rows
    ]
    header = [
      "run",
      "validation loss (nats)",
      "bits/char",
      "wall s",
      "peak RSS GiB",
      "wall / nanoGPT's",
    ]
    out.append(markdown_table(header, body, "lrrrrr"))
    if "vs_nanogpt" in figures:
      out.append(f"\n![against nanoGPT]({figures['vs_nanogpt']})\n")
  else:
    out.append(
      "The nanoGPT comparison is not run yet (bench/gpt_recipe.json, bench/nanogpt_recipe.log).\n"
    )
  return "\n".join(out)
