"""The padding study as a user runs it, against its PyTorch comparator: wall seconds of whole
commands (process start, data, compiling, training, testing), each a process of its own.

  python -m benchmarks.padding_command [--net Net1] [--conv-type fconv] [--seeds 10]
                                       [--epochs 5] [--repeats 1]

Each repeat runs, one after another, PyTorch's `python -m benchmarks.padding_torch` (the
original's training loop, one round after another; skipped without PyTorch), then
`python -m hw2_jax padding-study --nets NET --conv-types TYPE --seeds N --epochs E` with an
empty compilation cache (a first run), then the same again from the cache that run filled (a
rerun). The ratios JAX / PyTorch are of medians over the repeats. Writes
padding_command.{json,md} into --out (default runs/bench; refuses to replace them unless
--overwrite).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import output, padding_torch
from hw2_jax.core import rundir
from hw2_jax.core.render import markdown_table

NAME = "padding_command"


def timed(argv: list[str], env: dict | None = None) -> float:
  """Wall seconds of `python -m ARGV...`, its output passed through; a failure stops here."""
  t0 = time.perf_counter()
  subprocess.run([sys.executable, "-m", *argv], check=True, env={**os.environ, **(env or {})})
  return time.perf_counter() - t0


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(
    prog="python -m benchmarks.padding_command",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  padding_torch.add_run_flags(p, "rounds")
  p.add_argument("--repeats", type=int, default=1, help="times each command runs")
  output.add_flags(p, NAME, quick="2 rounds of 2 epochs")
  args = output.parse(p, argv, NAME)
  if args.quick:
    args.seeds, args.epochs = 2, 2
  torch = output.import_torch() is not None
  if not torch:
    print("PyTorch is not installed: the JAX command is timed alone")
  sizes = ["--seeds", str(args.seeds), "--epochs", str(args.epochs)]
  seconds = {"pytorch": [], "jax_first_run": [], "jax_from_cache": []}
  with tempfile.TemporaryDirectory(prefix="padding-command-") as tmp:
    for i in range(args.repeats):
      if torch:
        seconds["pytorch"].append(
          timed(
            ["benchmarks.padding_torch", "--net", args.net, "--conv-type", args.conv_type, *sizes]
          )  # fmt: skip
        )
      cache = {"JAX_COMPILATION_CACHE_DIR": os.path.join(tmp, f"cache-{i}")}
      for key in ("jax_first_run", "jax_from_cache"):
        study = ["hw2_jax", "padding-study", "--nets", args.net, "--conv-types", args.conv_type,
                 *sizes, "--out", os.path.join(tmp, f"{key}-{i}")]  # fmt: skip
        seconds[key].append(timed(study, cache))
  median = {k: float(np.median(v)) for k, v in seconds.items() if v}
  result = {
    "net": args.net,
    "conv_type": args.conv_type,
    "seeds": args.seeds,
    "epochs": args.epochs,
    "cpu": output.cpu_model(),
    "cpu_count": os.cpu_count(),
    "seconds": seconds,
    "median_s": median,
  }
  if torch:
    result["jax_over_pytorch"] = {
      k: median[k] / median["pytorch"] for k in ("jax_first_run", "jax_from_cache")
    }
  rows = [
    [name, f"{median[k]:.1f}",
     f"{result['jax_over_pytorch'][k]:.2f}" if torch and k != "pytorch" else ""]
    for k, name in (("pytorch", "PyTorch (benchmarks.padding_torch)"),
                    ("jax_first_run", "hw2_jax padding-study, empty compilation cache"),
                    ("jax_from_cache", "hw2_jax padding-study, from the cache"))
    if k in median
  ]  # fmt: skip
  table = (
    f"{args.net} {args.conv_type}, {args.seeds} rounds x {args.epochs} epochs, whole commands, "
    f"wall seconds, median of {args.repeats}; {result['cpu']}, {result['cpu_count']} cores."
    "\n\n" + markdown_table(["command", "seconds", "of PyTorch's time"], rows, "lrr")
  )
  print(table)
  files = {f"{NAME}.json": (json.dumps(result, indent=2) + "\n").encode(),
           f"{NAME}.md": table.encode()}  # fmt: skip
  rundir.write_outputs(args.out, files)
  return result


if __name__ == "__main__":
  main()
