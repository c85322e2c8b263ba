"""Padding-study training step speed: ms per step (batch 200, forward + backward + Adadelta).

Per net and conv type: one model, and per seed with `--seeds` models under `jax.vmap` (as the
study trains them); images/s per seed; XLA's FLOP count of the step and the ratio of the step
time to the matmul roofline (FLOPs / the f32 matmul throughput measured in the same run);
compile time. `--reference` also times the same step with XLA's own convolution
(`conv.reference_conv`), the implementation before the GEMM convolution, and, when PyTorch is
installed, the PyTorch original on the same kind of device (its CUDA build on a GPU; ratio
JAX / PyTorch measured in the same run). `--reference-vmapped` adds XLA's convolution with the
seeds under `jax.vmap` (a grouped convolution: very slow on a CPU and slow to compile on a GPU,
so off by default). On a GPU, compiling is most of the run: XLA autotunes every new GEMM shape
(docs/accelerators.md), so time a few
configurations there (`--nets`, `--conv-types`, `--quick`).

Steps are timed in the steady state, after `--warmup` steps: the first steps of a process fault
in the memory XLA:CPU then reuses (see hw2_jax/core/host_memory.py, whose malloc settings this
benchmark runs with, as the study does).

Run: `python -m benchmarks.padding_step [--quick]`; writes padding_step.{json,md} into --out
(default runs/bench; it refuses to replace earlier results unless --overwrite). `--precision
fp32 bf16` times both GEMM precisions (core/precision.py) in the same run.
"""

import argparse
import contextlib
import itertools
import json
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import output, padding_torch
from hw2_jax.core import devices, io, rundir, startup
from hw2_jax.core.render import markdown_table
from hw2_jax.padding import conv, data, model, train
from hw2_jax.padding.config import Recipe

BATCH = 200


def _median_seconds(fn, *args, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def matmul_gflops(n: int | None = None, repeats: int = 5) -> float:
  """f32 matmul throughput at XLA's default precision (TF32 on recent NVIDIA GPUs)."""
  n = n or (2048 if jax.default_backend() == "cpu" else 8192)  # big enough to fill a GPU
  a = jax.random.normal(jax.random.key(0), (n, n))
  f = jax.jit(lambda a: a @ a)
  jax.block_until_ready(f(a))
  return 2 * n**3 / _median_seconds(f, a, repeats=repeats) / 1e9


def time_step(
  net: str,
  conv_type: str,
  seeds: int,
  repeats: int,
  warmup: int,
  conv_fn=None,
  precision: str = "fp32",
) -> dict:
  """One training step for `seeds` models at once: median seconds, compile seconds, FLOPs."""
  x, y = data.generate(BATCH)
  batch = (jnp.asarray(x)[None], jnp.asarray(y)[None])
  cfg = Recipe()
  # conv_fn(x, w, stride, conv_type, precision) in place of the net's GEMM convolution
  swap = lambda x, w, stride, width, mode, precision="fp32": conv_fn(x, w, stride, conv_type, precision)  # fmt: skip
  with mock.patch.object(model, "padded_conv_as", swap) if conv_fn else contextlib.nullcontext():
    m = model.make_net(net, conv_type, precision)
    state = train.init_state(m, cfg, list(range(seeds)), x.shape[1:])
    step = jax.jit(lambda s, xb, yb: train.train_epoch(s, m, cfg, xb, yb))
    start = time.perf_counter()
    compiled = step.lower(state, *batch).compile()
    compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  for _ in range(warmup):
    jax.block_until_ready(compiled(state, *batch))
  return {
    "seconds": _median_seconds(compiled, state, *batch, repeats=repeats),
    "compile_seconds": compile_s,
    "flops": float(cost.get("flops", float("nan"))),
  }


def torch_step_seconds(net: str, conv_type: str, repeats: int, warmup: int) -> float | None:
  """The PyTorch original's step on JAX's kind of device, or None without a matching PyTorch."""
  torch = output.import_torch()
  if torch is None:
    return None
  backend = jax.default_backend()
  if backend not in ("cpu", "gpu") or (backend == "gpu" and not torch.cuda.is_available()):
    return None  # PyTorch on another kind of device than JAX's would compare nothing
  device = "cuda" if backend == "gpu" else "cpu"
  net_t = padding_torch.net(torch, net, conv_type).to(device)
  opt = padding_torch.adadelta(torch, net_t.parameters(), Recipe())
  x, y = data.generate(BATCH)
  xb, yb = (a.to(device) for a in output.torch_split(torch, (x, y)))

  def step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net_t(xb), yb).backward()
    opt.step()
    if device == "cuda":
      torch.cuda.synchronize()

  for _ in range(max(1, warmup)):
    step()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(
    prog="python -m benchmarks.padding_step",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--nets", nargs="+", default=list(model.NETS), choices=model.NETS)
  parser.add_argument(
    "--conv-types",
    nargs="+",
    default=list(conv.CONV_TYPES),
    choices=conv.CONV_TYPES,
    metavar="TYPE",
    help="padding types to time",
  )
  parser.add_argument("--seeds", type=int, default=10, help="models under jax.vmap")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=20, help="untimed steps before timing")
  parser.add_argument(
    "--reference",
    action="store_true",
    help="also time XLA's convolution (slow on CPU) and PyTorch if installed",
  )
  parser.add_argument(
    "--reference-vmapped",
    action="store_true",
    help="also time XLA's convolution with the seeds vmapped (very slow on CPU)",
  )
  parser.add_argument(
    "--precision",
    nargs="+",
    default=["fp32"],
    choices=("fp32", "bf16"),
    help="GEMM precisions to time (each a row per configuration)",
  )
  output.add_flags(
    parser,
    "padding_step",
    quick="Net1 fconv and valid only (in place of --nets, --conv-types), 3 repeats",
  )
  args = output.parse(parser, argv, "padding_step")
  out = io.ensure_writable_dir(args.out)
  repeats = 3 if args.quick else args.repeats
  configs = (
    [("Net1", "fconv"), ("Net1", "valid")]
    if args.quick
    else [(n, c) for n in args.nets for c in args.conv_types]
  )
  gflops = matmul_gflops()
  rows = []
  result = {
    "device": devices.describe(),
    "matmul_gflops": gflops,
    "seeds": args.seeds,
    "batch": BATCH,
    "repeats": repeats,
    "rows": rows,
  }
  for (net, conv_type), precision in itertools.product(configs, args.precision):
    one = time_step(net, conv_type, 1, repeats, args.warmup, precision=precision)
    many = time_step(net, conv_type, args.seeds, repeats, args.warmup, precision=precision)
    per_seed = many["seconds"] / args.seeds
    row = {
      "net": net,
      "conv_type": conv_type,
      "precision": precision,
      "ms_one_model": 1e3 * one["seconds"],
      "ms_per_seed_vmapped": 1e3 * per_seed,
      "images_per_s_per_seed": BATCH / per_seed,
      "gflop_per_step": one["flops"] / 1e9,
      "roofline_ratio": one["seconds"] / (one["flops"] / (gflops * 1e9)),
      "roofline_ratio_vmapped": many["seconds"] / (many["flops"] / (gflops * 1e9)),
      "compile_s": one["compile_seconds"],
    }
    if args.reference and precision == "fp32":
      row["ms_xla_conv_one_model"] = (
        1e3 * time_step(net, conv_type, 1, repeats, 1, conv.reference_conv)["seconds"]
      )
      torch_s = torch_step_seconds(net, conv_type, repeats, args.warmup)
      if torch_s is not None:
        row["ms_pytorch"] = 1e3 * torch_s
        row["jax_over_pytorch"] = one["seconds"] / torch_s
        row["jax_vmapped_over_pytorch"] = per_seed / torch_s
    if args.reference_vmapped and precision == "fp32":
      row["ms_xla_conv_per_seed_vmapped"] = (
        1e3
        * time_step(net, conv_type, args.seeds, repeats, 1, conv.reference_conv)["seconds"]
        / args.seeds
      )
    rows.append(row)
    print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    table = _write(out, result)
  print(table + f"\nwrote {out}/padding_step.{{json,md}}")


def _files(name: str, result: dict, table: str) -> dict:
  return {f"{name}.json": (json.dumps(result, indent=2) + "\n").encode(),
          f"{name}.md": table.encode()}  # fmt: skip


def _write(out, result: dict) -> str:
  """Writes padding_step.{json,md} (after every configuration, so a cut-off run keeps its rows)."""
  rows = result["rows"]
  cols = list(
    dict.fromkeys(k for r in rows for k in r if k not in ("net", "conv_type", "precision"))
  )
  cell = lambda r, c: f"{r[c]:.2f}" if c in r else ""
  table = (
    f"Matmul f32 throughput: {result['matmul_gflops']:.0f} GFLOP/s on {result['device']}; "
    f"median of {result['repeats']}; vmapped = {result['seeds']} seeds.\n\n"
    + markdown_table(
      ["net", "conv type", "precision", *cols],
      [[r["net"], r["conv_type"], r["precision"], *(cell(r, c) for c in cols)] for r in rows],
    )
  )
  rundir.write_outputs(out, _files("padding_step", result, table), log=lambda *_: None)
  return table


if __name__ == "__main__":
  startup.reexec("benchmarks.padding_step")
  startup.init()
  main()
