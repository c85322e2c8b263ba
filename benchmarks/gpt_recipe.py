"""nanoGPT's CPU recipe with this project's GPT, timed as a user runs it: validation loss and
wall time of the whole `gpt-train` command, start-up and compiling included.

  python -m benchmarks.gpt_recipe --txt-file tiny_shakespeare.txt [--variants ...]

Runs experiments/gpt_shakespeare.py's flags (nanoGPT's README run for a laptop) as a fresh
`python -m hw2_jax gpt-train` process per variant: this project's model (RoPE, RMSNorm) and
nanoGPT's choices (learned positions, LayerNorm), each with an empty compilation cache, and
the default variant once more from the cache the first run filled (reported apart: a first
run compiles). Peak resident memory is the process's. Writes gpt_recipe.{json,md} into --out
(default runs/bench; refuses to replace them unless --overwrite) with nanoGPT's numbers beside
(NANOGPT, measured with its own train.py on the project's 2-core CPU).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import output
from experiments.gpt_shakespeare import ARGS
from hw2_jax.core import rundir
from hw2_jax.core.render import markdown_table

VARIANTS = {
  "rope-rmsnorm": [],  # this project's defaults
  "learned-layernorm": ["--abs-emb", "--norm", "layernorm"],  # nanoGPT's choices
}
# nanoGPT's train.py with the same recipe, as measured: its own log and `/usr/bin/time -v`
# (the command is at the top of the file); its README reports 1.88 on a MacBook.
NANOGPT_LOG = "results/bench/nanogpt_recipe.log"
NANOGPT_README_VAL_LOSS = 1.88


def nanogpt(log_path=NANOGPT_LOG) -> dict:
  """nanoGPT's last validation loss and wall time, read from its run's log."""
  text = Path(log_path).read_text()
  val = re.findall(r"^step \d+: train loss [\d.]+, val loss ([\d.]+)", text, re.M)
  wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)",
                   text)  # fmt: skip
  hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
  return {"val_loss": round(float(val[-1]), 3), "wall_s": hours * 3600 + minutes * 60 + seconds,
          "readme_val_loss": NANOGPT_README_VAL_LOSS, "log": str(log_path)}  # fmt: skip


def run_once(args: list[str], out: Path, cache: Path) -> dict:
  """One gpt-train process: wall time, peak memory, and what the run recorded."""
  env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache), HW2_JAX_NO_COMPILE_CACHE="")
  start = time.perf_counter()
  proc = subprocess.Popen(
    [sys.executable, "-m", "hw2_jax", *args, "--out", str(out), "--no-plots", "--no-progress"],
    env=env,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
    text=True,
  )
  _, status, usage = os.wait4(proc.pid, 0)
  wall = time.perf_counter() - start
  if status:
    raise RuntimeError(f"gpt-train failed: {proc.stderr.read()}")
  summary = json.loads((out / "summary.json").read_text())
  evals = [
    (r["step"], r["val_loss"])
    for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
    if r["kind"] == "eval"
  ]
  return {
    "wall_s": wall,
    "peak_rss_gb": usage.ru_maxrss / 1024**2,
    "val_loss": summary["val_loss"],
    "best_val_loss": summary["best_val_loss"],
    "train_wall_s": summary["train_wall_s"],
    "first_call_s": summary["first_step_s"],
    "tokens_per_s": summary["tokens_per_s_median"],
    "val_curve": evals,
  }


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(
    prog="python -m benchmarks.gpt_recipe",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument(
    "--txt-file",
    default=None,
    help="tiny Shakespeare (required; e.g. ../shared/data/books/tiny_shakespear.txt)",
  )
  p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  output.add_flags(p, "gpt_recipe", quick="the default variant only, 200 steps")
  p.add_argument("--nanogpt-log", default=NANOGPT_LOG, help="nanoGPT's log with this recipe")
  p.add_argument(
    "--rerender", metavar="JSON",
    help="write the tables again from this earlier gpt_recipe.json's rows (no training), with "
    "nanoGPT's numbers read from --nanogpt-log",
  )  # fmt: skip
  args = output.parse(p, argv, "gpt_recipe")
  if args.rerender:
    earlier = json.loads(Path(args.rerender).read_text())
    result = {**earlier, "nanogpt": nanogpt(args.nanogpt_log)}
  else:
    result = {**_measure(args), "nanogpt": nanogpt(args.nanogpt_log)}
  table = _table(result)
  files = {"gpt_recipe.json": (json.dumps(result, indent=2) + "\n").encode(),
           "gpt_recipe.md": table.encode()}  # fmt: skip
  print(table)
  rundir.write_outputs(args.out, files)
  return result


def _measure(args) -> dict:
  if args.txt_file is None or not Path(args.txt_file).is_file():
    sys.exit("gpt_recipe: pass --txt-file with tiny Shakespeare (nanoGPT's shakespeare_char).")
  recipe = [a for a in ARGS if a not in ("--out", "runs/gpt-shakespeare")]
  recipe += ["--txt-file", args.txt_file]
  if args.quick:
    recipe[recipe.index("--max-steps") + 1] = "200"
    args.variants = ["rope-rmsnorm"]
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for name in args.variants:
      cache = Path(tmp) / f"cache-{name}"
      runs = [("cold", run_once(recipe + VARIANTS[name], Path(tmp) / f"{name}-cold", cache))]
      if name == "rope-rmsnorm":
        runs.append(
          ("compile cache", run_once(recipe + VARIANTS[name], Path(tmp) / f"{name}-warm", cache))
        )
      for kind, r in runs:
        rows.append({"variant": name, "run": kind, **r})
        print({k: v for k, v in rows[-1].items() if k != "val_curve"}, flush=True)
  return {"recipe": recipe, "cpu_count": os.cpu_count(),
          "load_avg_1m_at_end": os.getloadavg()[0], "rows": rows}  # fmt: skip


def _table(result: dict) -> str:
  nano = result["nanogpt"]
  header = ["model", "run", "validation loss (last)", "wall s (whole command)", "training s",
            "peak RSS GB", "wall / nanoGPT's"]  # fmt: skip
  rows = [["nanoGPT train.py", "", f"{nano['val_loss']:.3f}", f"{nano['wall_s']:.1f}", "", "",
           "1.00"]]  # fmt: skip
  rows += [
    [r["variant"], r["run"], f"{r['val_loss']:.3f}", f"{r['wall_s']:.1f}",
     f"{r['train_wall_s']:.1f}", f"{r['peak_rss_gb']:.2f}", f"{r['wall_s'] / nano['wall_s']:.2f}"]
    for r in result["rows"]
  ]  # fmt: skip
  return markdown_table(header, rows, "llrrrrr")


if __name__ == "__main__":
  main()
