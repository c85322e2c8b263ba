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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiments.gpt_shakespeare import ARGS
from hw2_jax.core import io, rundir
from hw2_jax.core.render import markdown_table

VARIANTS = {
  "rope-rmsnorm": [],  # this project's defaults
  "learned-layernorm": ["--abs-emb", "--norm", "layernorm"],  # nanoGPT's choices
}
# nanoGPT's train.py with the same recipe (`python train.py config/train_shakespeare_char.py
# --device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12
# --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0`,
# torch 2.13 CPU) on the project's idle 2-core CPU; its README reports 1.88 on a MacBook.
NANOGPT = {"val_loss": 1.916, "wall_s": 83.5, "readme_val_loss": 1.88}


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
  p.add_argument("--out", default="runs/bench", help="output folder")
  p.add_argument("--overwrite", action="store_true", help="replace gpt_recipe.* in --out")
  p.add_argument("--quick", action="store_true", help="the default variant only, 200 steps")
  args = p.parse_args(argv)
  rundir.check_new_files(args.out, ["gpt_recipe.json", "gpt_recipe.md"], args.overwrite)
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
  result = {
    "recipe": recipe,
    "nanogpt": NANOGPT,
    "cpu_count": os.cpu_count(),
    "load_avg_1m_at_end": os.getloadavg()[0],
    "rows": rows,
  }
  io.write_json(f"{args.out}/gpt_recipe.json", result)
  table = markdown_table(
    [
      "model",
      "run",
      "validation loss (last)",
      "wall s (whole command)",
      "training s",
      "peak RSS GB",
      "wall / nanoGPT's",
    ],
    [
      [
        "nanoGPT train.py",
        "",
        f"{NANOGPT['val_loss']:.3f}",
        f"{NANOGPT['wall_s']:.1f}",
        "",
        "",
        "1.00",
      ]
    ]
    + [
      [
        r["variant"],
        r["run"],
        f"{r['val_loss']:.3f}",
        f"{r['wall_s']:.1f}",
        f"{r['train_wall_s']:.1f}",
        f"{r['peak_rss_gb']:.2f}",
        f"{r['wall_s'] / NANOGPT['wall_s']:.2f}",
      ]
      for r in rows
    ],
    "llrrrrr",
  )
  io.write_text(f"{args.out}/gpt_recipe.md", table)
  print(table + f"\nwrote {args.out}/gpt_recipe.{{json,md}}")
  return result


if __name__ == "__main__":
  main()
