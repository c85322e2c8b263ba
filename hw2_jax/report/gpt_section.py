"""Question 2.7's section of report.md: where each run comes from, per run its losses in nats and
bits per character, its per-epoch curve and two samples, the run that awaits an accelerator, and
the comparison with nanoGPT. Each part is a list of paragraphs."""

import math

from hw2_jax.core.render import markdown_table


def _f(v, fmt: str) -> str:
  return "" if v is None else format(v, fmt)


def _sources(sources: dict) -> list:
  out = []
  for src in sources.values():
    state = "" if src["present"] else " — **not run yet**"
    out.append(f"- `{src['path']}`{state}; command: `{src['command']}`; machine: {src['machine']}.")
  return out + [""]


def _loss_table(run: dict) -> str:
  """The run's training loss: a uniform guess, first and last step, the mean of the last steps
  and of an unfinished epoch, in nats and bits per character."""
  n_tail = next(k for k in run["loss_nats"] if k.startswith("mean_last"))
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
  return "Training loss (cross-entropy per character):\n\n" + markdown_table(
    ["", "nats", "bits/char"], rows, "lrr"
  )


def _epochs(name: str, run: dict, figures: dict) -> list:
  if not run["per_epoch"]:
    spe = f" of {run['steps_per_epoch']:,} steps" if run.get("steps_per_epoch") else ""
    return [f"\nThe run holds no whole epoch (one epoch{spe}), so there is no per-epoch curve.\n"]
  rows = [
    [e["epoch"], f"{e['loss_nats']:.3f}", f"{e['loss_bits']:.3f}", _f(e.get("acc"), ".3f")]
    for e in run["per_epoch"]
  ]
  return [
    "Per epoch:\n\n"
    + markdown_table(["epoch", "loss (nats)", "bits/char", "accuracy"], rows, "rrrr"),
    f"![{name} per epoch]({figures[f'epochs:{name}']})\n",
  ]


def _run(name: str, run: dict, figures: dict) -> list:
  params = f"{run['params']:,} parameters, " if run.get("params") else ""
  epochs = f" ({run['epochs']:.3f} epochs)" if run.get("epochs") is not None else ""
  out = [
    f"### {name}: {params}{run['steps']} steps{epochs}\n",
    f"![{name} loss per step]({figures[f'run:{name}']})\n",
  ]
  out += [f"Note: {note.removeprefix('warning: ')}.\n" for note in run["notes"]]
  out.append(_loss_table(run))
  if run.get("acc_mean_last") is not None:
    out.append(f"\nNext-character accuracy, mean of the last steps: {run['acc_mean_last']:.3f}.\n")
  out += _epochs(name, run, figures)
  out += [
    f"Sample {i} ({s['decoding']}):\n\n```text\n{s['text']}\n```\n"
    for i, s in enumerate(run["samples"], start=1)
  ]
  return out


def _awaited(awaited: dict) -> list:
  return [
    f"**The assignment's 5-epoch gpt-mini run ({key}) awaits a GPU or TPU**: it is not run "
    f"on this project's CPU. Its command (gpt-train's defaults are the assignment's "
    f"gpt-mini, 5 epochs): `{command}`.\n"
    for key, command in awaited.items()
  ]


def _nanogpt(rows: list, figures: dict) -> list:
  if len(rows) <= 1:
    return [
      "The nanoGPT comparison is not run yet (bench/gpt_recipe.json, bench/nanogpt_recipe.log).\n"
    ]
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
  out = [
    "### Against nanoGPT on its CPU recipe\n",
    "Tiny Shakespeare, 4 layers x 4 heads x 128, context 64, batch 12, 2,000 steps, cosine "
    "schedule, validation on the last 10% of the text; measured back to back on the 2-core "
    "CPU. Loss in nats and bits per character; wall time of the whole command.\n",
    markdown_table(header, body, "lrrrrr"),
  ]
  if "vs_nanogpt" in figures:
    out.append(f"\n![against nanoGPT]({figures['vs_nanogpt']})\n")
  return out


def markdown(numbers: dict, sources: dict, figures: dict) -> str:
  """`sources`: key -> load.source (with "present"); `figures`: key -> figure file name."""
  out = ["## Question 2.7: the micro-GPT\n", *_sources(sources)]
  for name, run in numbers["runs"].items():
    out += _run(name, run, figures)
  out += _awaited(numbers["awaited"])
  out += _nanogpt(numbers["nanogpt_comparison"], figures)
  return "\n".join(out)
