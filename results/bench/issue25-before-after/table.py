"""Issue 25's rows before and after from a run of run.sh: python table.py OUT > before_after.md

Reads OUT/times.tsv (row, variant, repeat, wall s, peak kB), the GPT benchmarks' JSON and the
recipe runs' metrics; medians over repeats; ratios to the PyTorch (or nanoGPT) command of the
same run.
"""

import collections
import json
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
wall = collections.defaultdict(list)
peak = collections.defaultdict(list)
for line in (out / "times.tsv").read_text().splitlines():
  row, variant, _, seconds, kb = line.split("\t")
  wall[row, variant].append(float(seconds))
  peak[row, variant].append(int(kb) / 1e6)
med = {k: statistics.median(v) for k, v in wall.items()}


def ms(run):
  return json.loads((out / "runs" / run / "gpt_tokens.json").read_text())["results"][0]


def val_loss(run):
  lines = (out / "runs" / run / "metrics.jsonl").read_text().splitlines()
  return [json.loads(x)["val_loss"] for x in lines if '"val_loss"' in x][-1]


def nanogpt_val_loss():
  log = (out / "logs" / "recipe-nanogpt-1.log").read_text().splitlines()
  return float([x for x in log if "val loss" in x][-1].rsplit("val loss ", 1)[1])


print("| row | before | after | reference | goal |")
print("| --- | ---: | ---: | ---: | --- |")
for row, name, ref, goal in (
  ("padding", "padding command, Net1 fconv, 10 rounds x 5 epochs", "pytorch", "<= 0.6"),
  ("rotation", "rotation command, 1 epoch per model + 13 angles", "pytorch", "<= 0.5"),
  ("recipe", "nanoGPT's CPU recipe, whole command", "nanogpt", "<= 0.5"),
):
  if (row, ref) not in med:
    continue
  r = med[row, ref]
  cell = lambda v, row=row, r=r: (
    f"{med[row, v]:.1f} s ({med[row, v] / r:.2f})" if (row, v) in med else ""
  )
  for kind in ("cold", "cached"):
    label = "empty compilation cache" if kind == "cold" else "from the cache"
    print(
      f"| {name}, {label}: s (of the reference's time) | {cell('before-' + kind)} | "
      f"{cell('after-' + kind)} | {r:.1f} s | {goal} |"
    )
  if row == "recipe":
    losses = {v: val_loss(f"recipe-{v}-1") for v in ("before-cold", "after-cold")}
    print(
      f"| {name}: validation loss | {losses['before-cold']:.4f} | {losses['after-cold']:.4f} "
      f"| {nanogpt_val_loss():.4f} | no worse than 1.803 |"
    )
for d, goal in (("0.1", ">= 2x nanoGPT's model"), ("0", ">= 1.5x a lean PyTorch GPT")):
  before, after, pair = ms(f"gpt-d{d}-before"), ms(f"gpt-d{d}-after"), ms(f"gpt-d{d}-reference")
  torch = pair["ms_per_step_pytorch"]
  print(
    f"| GPT gpt-micro B128 T128 fp32 dropout {d}, ms per step, own process (JAX's speed "
    f"as a multiple of PyTorch's) | {before['ms_per_step']:.0f} ({torch / before['ms_per_step']:.2f}x) "
    f"| {after['ms_per_step']:.0f} ({torch / after['ms_per_step']:.2f}x) | {torch:.0f} | {goal} |"
  )
  print(
    f"| the same, after, alternated in one process with PyTorch | | {pair['ms_per_step']:.0f} "
    f"({pair['pytorch_over_jax']:.2f}x) | {torch:.0f} | |"
  )
print()
print(
  "Peak resident memory, GB (medians):",
  ", ".join(f"{r} {v} {statistics.median(p):.1f}" for (r, v), p in sorted(peak.items())),
)
