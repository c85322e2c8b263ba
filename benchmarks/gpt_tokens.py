"""GPT training speed and memory: ms per step, tokens/s and peak resident memory.

  python -m benchmarks.gpt_tokens [--models gpt-micro gpt-mini] [--reference] [--quick]

Times the training step as `gpt-train` runs it (`--steps-per-call` steps per device call, as
--log-every gives; 1 = one call per step), after compiling and `--warmup` steps, and reports
the median. Peak resident memory (VmHWM) is read after 10 steps and after `--memory-steps`
steps, before anything else runs in the process, so a leak or a growing heap shows as a
difference. `--reference` also times a PyTorch GPT of the same sizes (LayerNorm, learned
positions, causal scaled-dot-product attention, AdamW with clipping, and dropout where the JAX
model has it, on embeddings, attention and residuals as nanoGPT; written here as a comparator,
in float32 on the CPU) in the same process, alternating with the JAX step so that the load of
the machine weighs on both alike: the ratio is the number to quote. PyTorch's
OpenMP threads are made passive (benchmarks/output.import_torch) so that they do not spin on
the cores between its steps while XLA runs. PyTorch is a benchmark-only dependency (`pip
install torch`). Writes gpt_tokens.{json,md} into --out
(default runs/bench; refuses to replace them unless --overwrite).
"""

import argparse
import json
import os
import platform
import time

import numpy as np

from benchmarks import output
from hw2_jax.core import rundir, startup

MODELS = ("gpt-micro", "gpt-mini")
# Dense peak TFLOP/s from NVIDIA's data sheets, by JAX's device_kind and the GEMMs' precision
# (fp32 = full float32, not TF32); MFU is quoted against it (blank for a device not listed).
PEAK_TFLOPS = {
  ("NVIDIA H200", "bf16"): 989.4,
  ("NVIDIA H200", "fp32"): 66.9,
  ("NVIDIA H100 80GB HBM3", "bf16"): 989.4,
  ("NVIDIA H100 80GB HBM3", "fp32"): 66.9,
}


def train_flops_per_token(model_cfg) -> float:
  """Matmul FLOPs of one training token (forward and backward, 3x the forward's): per layer
  the four projections (24 d^2) and attention's scores and weighted sum over the whole context
  (4 T d, causal masking not subtracted), plus the output layer (2 d V); the usual count for
  MFU (PaLM's appendix B), norms, softmax and the optimizer left out."""
  d, t, v = model_cfg.n_embd, model_cfg.block_size, model_cfg.vocab_size
  return 3 * (model_cfg.n_layer * (24 * d * d + 4 * t * d) + 2 * d * v)


def peak_tflops(precision: str) -> float | None:
  """The data sheet's dense peak of this machine's devices, all together, or None if unknown."""
  import jax

  peaks = [PEAK_TFLOPS.get((dev.device_kind, precision)) for dev in jax.devices()]
  return None if None in peaks else sum(peaks)


def peak_rss_gb() -> float:
  """This process's peak resident memory so far (VmHWM), in GB."""
  with open("/proc/self/status", encoding="utf-8") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024**2
  return float("nan")


def jax_step(
  model_type: str,
  batch_size: int,
  block_size: int,
  steps_per_call: int,
  dropout: float,
  precision: str,
  fused,
):
  """(one call of `steps_per_call` steps, parameter count, compile seconds, model config)."""
  import jax
  import jax.numpy as jnp

  from hw2_jax.core import devices
  from hw2_jax.gpt.config import Config
  from hw2_jax.gpt.model import num_params
  from hw2_jax.gpt.optimizer import from_config, schedule_from_config
  from hw2_jax.gpt.train import create_state, make_train_step

  cfg = Config(
    model_type=model_type,
    train_batch_size=batch_size,
    block_size=block_size,
    dropout=dropout,
    precision=precision,
    fused_attention=fused,
  )
  model_cfg = cfg.model_config(87, jax.default_backend())  # Grimm's 87 characters
  tx = from_config(cfg, 1)
  mesh = devices.mesh()
  rep = devices.replicated(mesh)
  state = [jax.device_put(create_state(model_cfg, tx, 0), rep)]
  data_N = jax.device_put(jax.random.randint(jax.random.key(0), (100_000,), 0, 87, jnp.int32), rep)
  fn = make_train_step(
    model_cfg, tx, schedule_from_config(cfg, 1), batch_size, mesh, steps_per_call
  )
  t0 = time.perf_counter()
  fn = fn.lower(state[0], data_N).compile()
  compile_s = time.perf_counter() - t0

  def call():
    state[0], metrics = fn(state[0], data_N)
    jax.block_until_ready(metrics)
    return metrics

  return call, num_params(state[0].params), compile_s, model_cfg


def torch_step(model_cfg, batch_size: int):
  """One training step of a PyTorch GPT of the same sizes, or None without PyTorch."""
  torch = output.import_torch()
  if torch is None:
    return None
  nn = torch.nn
  torch.manual_seed(0)
  d, t, v = model_cfg.n_embd, model_cfg.block_size, model_cfg.vocab_size
  p = model_cfg.dropout  # where the JAX model has it: embeddings, attention, residuals

  class Block(nn.Module):
    def __init__(self):
      super().__init__()
      self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
      self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
      self.mlp = nn.Sequential(
        nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d), nn.Dropout(p)
      )
      self.drop = nn.Dropout(p)

    def forward(self, x):
      b = x.shape[0]
      q, k, val = self.qkv(self.ln_1(x)).split(d, dim=2)
      heads = lambda a: a.view(b, t, model_cfg.n_head, -1).transpose(1, 2)
      y = nn.functional.scaled_dot_product_attention(
        heads(q), heads(k), heads(val), dropout_p=p, is_causal=True
      )
      x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))
      return x + self.mlp(self.ln_2(x))

  wte, wpe = nn.Embedding(v, d), nn.Embedding(t, d)
  blocks = nn.Sequential(*[Block() for _ in range(model_cfg.n_layer)])
  ln_f, head = nn.LayerNorm(d), nn.Linear(d, v, bias=False)
  drop = nn.Dropout(p)
  model = nn.ModuleList([wte, wpe, blocks, ln_f, head, drop]).train()
  opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.95), weight_decay=0.1)
  gen = torch.Generator().manual_seed(0)
  data = torch.randint(0, v, (100_000,), generator=gen)
  pos = torch.arange(t)

  def step():
    starts = torch.randint(0, len(data) - t - 1, (batch_size,), generator=gen)
    idx = starts[:, None] + pos[None]
    x, y = data[idx], data[idx + 1]
    logits = head(ln_f(blocks(drop(wte(x) + wpe(pos)))))
    loss = nn.functional.cross_entropy(logits.view(-1, v), y.view(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()

  step.model = model  # for inspection (tests)
  return step


def bench(model_type: str, args) -> dict:
  from hw2_jax.gpt.model import attention_path

  k = args.steps_per_call
  call, params, compile_s, model_cfg = jax_step(
    model_type,
    args.batch_size,
    args.block_size,
    k,
    args.dropout,
    args.precision,
    args.fused_attention,
  )
  done = 0
  while done < 10:
    call()
    done += k
  rss_10 = peak_rss_gb()
  while done < args.memory_steps:
    call()
    done += k
  rss_n = peak_rss_gb()
  reference = torch_step(model_cfg, args.batch_size) if args.reference else None
  jax_s, torch_s = [], []
  for _ in range(args.warmup):
    call()
    for _ in range(k if reference else 0):
      reference()
  for _ in range(args.repeats):
    t0 = time.perf_counter()
    call()
    jax_s.append((time.perf_counter() - t0) / k)
    if reference:  # as many PyTorch steps right after, so both see the same load
      t0 = time.perf_counter()
      for _ in range(k):
        reference()
      torch_s.append((time.perf_counter() - t0) / k)
  ms = 1e3 * float(np.median(jax_s))
  tokens_per_s = args.batch_size * args.block_size / ms * 1e3
  tflops = train_flops_per_token(model_cfg) * tokens_per_s / 1e12
  peak = peak_tflops(model_cfg.precision)
  row = {
    "model_type": model_type,
    "params": params,
    "precision": model_cfg.precision,
    "attention": attention_path(model_cfg, train=True),
    "dropout": model_cfg.dropout,
    "steps_per_call": k,
    "ms_per_step": ms,
    "tokens_per_s": tokens_per_s,
    "model_tflops_per_s": tflops,
    "mfu": None if peak is None else tflops / peak,
    "compile_s": compile_s,
    "peak_rss_gb_10_steps": rss_10,
    f"peak_rss_gb_{done}_steps": rss_n,
    "ms_all": [1e3 * s for s in jax_s],
  }
  if torch_s:
    row["ms_per_step_pytorch"] = 1e3 * float(np.median(torch_s))
    row["pytorch_over_jax"] = row["ms_per_step_pytorch"] / ms
  return row


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(
    prog="python -m benchmarks.gpt_tokens",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument("--models", nargs="+", default=list(MODELS))
  p.add_argument("--batch-size", type=int, default=128)
  p.add_argument("--block-size", type=int, default=128)
  p.add_argument(
    "--steps-per-call", type=int, default=10, help="steps per device call (gpt-train's --log-every)"
  )
  p.add_argument("--warmup", type=int, default=1, help="untimed calls before timing")
  p.add_argument("--repeats", type=int, default=3, help="timed calls")
  p.add_argument(
    "--memory-steps", type=int, default=20, help="steps before the second memory reading"
  )
  p.add_argument("--dropout", type=float, default=0.1)
  p.add_argument("--precision", default="auto")
  p.add_argument("--fused-attention", action=argparse.BooleanOptionalAction, default=None)
  p.add_argument(
    "--reference",
    action="store_true",
    help="also time a PyTorch GPT of the same sizes (needs torch)",
  )
  output.add_flags(p, "gpt_tokens", quick="gpt-micro only, 2 timed calls")
  args = output.parse(p, argv, "gpt_tokens")
  if args.quick:
    args.models, args.repeats = ["gpt-micro"], 2

  import jax

  from hw2_jax.core import devices
  from hw2_jax.core.render import markdown_table

  rows = []
  for m in args.models:
    rows.append(bench(m, args))
    print(
      {k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items() if k != "ms_all"},
      flush=True,
    )
  result = {
    "device": devices.describe(),
    "cpu_count": os.cpu_count(),
    "machine": platform.machine(),
    "jax": jax.__version__,
    "batch_size": args.batch_size,
    "block_size": args.block_size,
    "load_avg_1m_at_end": os.getloadavg()[0],
    "results": rows,
  }
  mem = lambda r: " / ".join(f"{v:.2f}" for k, v in r.items() if k.startswith("peak_rss"))
  table = markdown_table(
    [
      "model",
      "params",
      "precision",
      "steps per call",
      "ms per step",
      "tokens/s",
      "model TFLOP/s",
      "MFU",
      "peak RSS (GB) after 10 / more steps",
      "PyTorch ms per step",
      "PyTorch / JAX",
    ],
    [
      [
        r["model_type"],
        f"{r['params']:,}",
        r["precision"],
        r["steps_per_call"],
        f"{r['ms_per_step']:.0f}",
        f"{r['tokens_per_s']:,.0f}",
        f"{r['model_tflops_per_s']:.3g}",
        "" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%",
        mem(r),
        f"{r['ms_per_step_pytorch']:.0f}" if "ms_per_step_pytorch" in r else "",
        f"{r['pytorch_over_jax']:.2f}" if "pytorch_over_jax" in r else "",
      ]
      for r in rows
    ],
    "lrlrrrrrrrr",
  )
  text = (
    f"GPT training step on {result['device']}, batch {args.batch_size} x "
    f"{args.block_size} tokens, dropout {args.dropout:g}, median of {args.repeats} calls. "
    "Model TFLOP/s counts the "
    "matmuls of a training step (benchmarks/gpt_tokens.train_flops_per_token); MFU divides "
    "it by the devices' dense peak from their data sheets (blank where unknown, as on a "
    f"CPU).\n\n{table}"
  )
  print(text)
  files = {"gpt_tokens.json": (json.dumps(result, indent=2) + "\n").encode(),
           "gpt_tokens.md": text.encode()}  # fmt: skip
  rundir.write_outputs(args.out, files)
  return result


if __name__ == "__main__":
  startup.reexec("benchmarks.gpt_tokens")
  startup.init()
  main()
