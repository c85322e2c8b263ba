"""Whole commands against their PyTorch comparators, each a process of its own: what
benchmarks.padding_command and benchmarks.rotation_command share.

Per repeat, in turn: the PyTorch comparator (skipped without PyTorch), then the hw2_jax study
with an empty compilation cache (a first run), then the same again from the cache that run
filled (a rerun). Wall seconds include process start, data, compiling and evaluation; the
ratios hw2_jax / PyTorch are of medians over the repeats.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import output
from hw2_jax.core import rundir
from hw2_jax.core.render import markdown_table

RUNS = {
  "pytorch": "PyTorch ({})",
  "jax_first_run": "hw2_jax {}, empty compilation cache",
  "jax_from_cache": "hw2_jax {}, from the cache",
}


def timed(argv: list[str], env: dict | None = None) -> float:
  """Wall seconds of `python -m ARGV...`, its output passed through; a failure stops here."""
  t0 = time.perf_counter()
  subprocess.run([sys.executable, "-m", *argv], check=True, env={**os.environ, **(env or {})})
  return time.perf_counter() - t0


def compare(torch_argv: list[str], study_argv: list[str], repeats: int) -> dict:
  """{run: [seconds per repeat]} for RUNS; `study_argv` gets its --out (a temporary folder)."""
  torch = output.torch_installed()
  if not torch:
    print("PyTorch is not installed: the hw2_jax command is timed alone")
  seconds = {k: [] for k in RUNS if torch or k != "pytorch"}
  with tempfile.TemporaryDirectory(prefix="hw2-jax-command-") as tmp:
    for i in range(repeats):
      if torch:
        seconds["pytorch"].append(timed(torch_argv))
      cache = {"JAX_COMPILATION_CACHE_DIR": os.path.join(tmp, f"cache-{i}")}
      for key in ("jax_first_run", "jax_from_cache"):
        seconds[key].append(timed([*study_argv, "--out", os.path.join(tmp, f"{key}-{i}")], cache))
  return seconds


def write(name: str, title: str, names: tuple[str, str], seconds: dict, out, **record) -> dict:
  """NAME.{json,md} into `out`: the seconds, their medians and the ratios; `names` = (the
  PyTorch comparator, the hw2_jax command) for the table's rows."""
  median = {k: float(np.median(v)) for k, v in seconds.items()}
  result = {**record, "cpu": output.cpu_model(), "cpu_count": os.cpu_count(),
            "seconds": seconds, "median_s": median}  # fmt: skip
  if "pytorch" in median:
    result["jax_over_pytorch"] = {
      k: median[k] / median["pytorch"] for k in ("jax_first_run", "jax_from_cache")
    }
  ratios = result.get("jax_over_pytorch", {})
  label = lambda k: RUNS[k].format(names[0] if k == "pytorch" else names[1])
  rows = [
    [label(k), f"{s:.1f}", f"{ratios[k]:.2f}" if k in ratios else ""] for k, s in median.items()
  ]
  repeats = len(next(iter(seconds.values())))
  table = (
    f"{title}, whole commands, wall seconds, median of {repeats}; {result['cpu']}, "
    f"{result['cpu_count']} cores.\n\n"
    + markdown_table(["command", "seconds", "of PyTorch's time"], rows, "lrr")
  )
  print(table)
  files = {f"{name}.json": (json.dumps(result, indent=2) + "\n").encode(),
           f"{name}.md": table.encode()}  # fmt: skip
  rundir.write_outputs(out, files)
  return result
