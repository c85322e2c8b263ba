"""Question 2.7's numbers: the micro-GPT's losses in nats and in bits per character (bits =
nats / ln 2), per step and per epoch where a run has whole epochs, two samples, and the
comparison with nanoGPT on its CPU recipe. The figures are in gpt_figures.py, the section's
text in gpt_section.py.

nanoGPT's numbers come from its own log (bench/nanogpt_recipe.log: evaluations, and
/usr/bin/time -v's wall time and maximum resident set size), never from the `nanogpt` block of
bench/gpt_recipe.json. Peak memory is in GiB (KiB / 1024^2), the unit of gpt_recipe.json's
`peak_rss_gb` (ru_maxrss / 1024^2).
"""

import math

import numpy as np

LN2 = math.log(2)
TAIL = 50  # the last steps averaged for a run's final loss


def bits(nats: float) -> float:
  return nats / LN2


def step_records(records: list) -> list:
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
  steps = step_records(run["records"])
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
