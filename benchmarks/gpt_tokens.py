"""Training throughput of the GPT (tokens/s) on this machine's devices.

  .venv/bin/python -m benchmarks.gpt_tokens [--models gpt-micro gpt-mini] [--steps 5] [--quick]

Times the jitted, donated train step (batch drawn on device) after compilation and
a few warm-up steps, one step at a time, and reports the median. Writes gpt_tokens.json into
--out (default runs/bench; refuses to replace it unless --overwrite) and prints a markdown table.
"""

import argparse
import time

import numpy as np

from hw2_jax.core import rundir, startup

MODELS = ("gpt-micro", "gpt-mini")


def bench_model(model_type: str, batch_size: int, block_size: int, warmup: int, steps: int,
                dropout: float, precision: str, fused) -> dict:
  import jax
  import jax.numpy as jnp

  from hw2_jax.core import devices
  from hw2_jax.gpt.config import Config
  from hw2_jax.gpt.model import num_params
  from hw2_jax.gpt.optimizer import from_config, learning_rate_schedule
  from hw2_jax.gpt.train import create_state, make_train_step

  cfg = Config(model_type=model_type, train_batch_size=batch_size, block_size=block_size,
               dropout=dropout, precision=precision, fused_attention=fused)
  model_cfg = cfg.model_config(87, jax.default_backend())  # Grimm's 87 characters
  tx = from_config(cfg, 1)
  mesh = devices.mesh()
  rep = devices.replicated(mesh)
  state = jax.jit(lambda: create_state(model_cfg, tx, 0), out_shardings=rep)()
  data_N = jax.device_put(
      jax.random.randint(jax.random.key(0), (100_000,), 0, 87, jnp.int32), rep)
  t0 = time.perf_counter()
  step = make_train_step(model_cfg, tx, learning_rate_schedule("constant", cfg.learning_rate, 1),
                         batch_size, mesh).lower(state, data_N).compile()
  compile_s = time.perf_counter() - t0
  times = []
  for i in range(warmup + steps):
    t0 = time.perf_counter()
    state, metrics = step(state, data_N)
    jax.block_until_ready(metrics)
    if i >= warmup:
      times.append(time.perf_counter() - t0)
  median = float(np.median(times))
  return {"model_type": model_type, "params": num_params(state.params),
          "batch_size": batch_size, "block_size": block_size, "dtype": model_cfg.dtype,
          "fused_attention": model_cfg.fused_attention, "dropout": dropout,
          "compile_s": compile_s, "warmup_steps": warmup, "timed_steps": steps,
          "step_s_median": median, "step_s_all": times,
          "tokens_per_s_median": batch_size * block_size / median,
          "loss_after": float(metrics["loss"])}


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(prog="python -m benchmarks.gpt_tokens", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--models", nargs="+", default=list(MODELS))
  p.add_argument("--batch-size", type=int, default=128)
  p.add_argument("--block-size", type=int, default=128)
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--dropout", type=float, default=0.1)
  p.add_argument("--precision", default="auto")
  p.add_argument("--fused-attention", action=argparse.BooleanOptionalAction, default=None)
  p.add_argument("--out", default="runs/bench", help="output folder")
  p.add_argument("--overwrite", action="store_true", help="replace gpt_tokens.json in --out")
  p.add_argument("--quick", action="store_true",
                 help="gpt-micro only, 1 warm-up and 3 timed steps")
  args = p.parse_args(argv)
  rundir.check_new_files(args.out, ["gpt_tokens.json"], args.overwrite)
  if args.quick:
    args.models, args.warmup, args.steps = ["gpt-micro"], 1, 3

  import os
  import platform

  import jax

  from hw2_jax.core import devices
  from hw2_jax.core.io import write_json

  rows = [bench_model(m, args.batch_size, args.block_size, args.warmup, args.steps,
                      args.dropout, args.precision, args.fused_attention) for m in args.models]
  result = {"device": devices.describe(), "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "jax": jax.__version__,
            "load_avg_1m_at_end": os.getloadavg()[0], "results": rows}
  write_json(f"{args.out}/gpt_tokens.json", result)
  print(f"GPT training throughput on {result['device']} (batch {args.batch_size} x "
        f"{args.block_size} tokens, median of {args.steps} steps after {args.warmup} warm-up)\n")
  print("| model | params | dtype | attention | step (s) | tokens/s |")
  print("| --- | ---: | --- | --- | ---: | ---: |")
  for r in rows:
    print(f"| {r['model_type']} | {r['params']:,} | {r['dtype']} | "
          f"{'fused' if r['fused_attention'] else 'explicit'} | {r['step_s_median']:.3f} | "
          f"{r['tokens_per_s_median']:,.0f} |")
  print(f"\nwrote {args.out}/gpt_tokens.json")
  return result


if __name__ == "__main__":
  startup.reexec("benchmarks.gpt_tokens")
  startup.init()
  main()
