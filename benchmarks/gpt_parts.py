"""Where a GPT training step's time goes: its parts timed as programs of their own.

  python -m benchmarks.gpt_parts [--model gpt-micro] [--dropout 0.1] [--repeats 5]

Each part is one jitted program on the shapes of a `gpt-train` step (batch 128 x 128 by
default) that runs the part --steps-per-call times in one device call (a `lax.scan`, as
gpt-train runs its steps), timed alternately with the others (so the load of the machine weighs
on all alike) and reported as the median ms per run of the part:

- `step`: the whole training step as gpt-train runs it (batch, loss, gradients, AdamW);
- `step, dropout 0` and `step, dropout 0, fused attention`: the same without dropout;
- `forward` and `forward + backward`: the model's loss, and its loss and gradients;
- `optimizer`: AdamW's update of every parameter from a gradient tree, clipping included;
- `dropout masks`: the random keep/drop decisions of one step alone (every dropout site's
  shape, drawn as the model's Dropout draws them: `model.dropout_keep`);
- `matmuls`: the step's GEMMs alone (forward and backward of every dense layer and of the
  attention's two products, float32), which is the arithmetic floor of the step.

The differences between rows are the cost of each part within the step (XLA fuses parts, so
they are estimates, not a partition). Writes gpt_parts.{json,md} into --out (default
runs/bench; refuses to replace them unless --overwrite).
"""

import argparse
import json
import os
import platform
import time

import numpy as np

from benchmarks import output
from hw2_jax.core import rundir, startup


def _repeated(body, carry, k: int, inputs=()):
  """A call that runs `body(carry, inputs)` k times in one device call (lax.scan, each time on
  the carry the last one left, so XLA can hoist nothing out of the loop) and waits for it.
  Arrays go in as `inputs` (arguments), never as constants of the program."""
  import jax

  scan = lambda c, xs: jax.lax.scan(lambda c, _: (body(c, xs), None), c, None, length=k)[0]
  fn = jax.jit(scan)
  return lambda: jax.block_until_ready(fn(carry, inputs))


def _programs(model_type: str, batch_size: int, block_size: int, dropout: float, k: int) -> dict:
  """{part name: a no-argument call that runs the part k times in one device call}."""
  import jax
  import jax.numpy as jnp
  import optax

  from benchmarks.gpt_tokens import jax_step
  from hw2_jax.gpt.config import Config
  from hw2_jax.gpt.model import GPT, dropout_keep
  from hw2_jax.gpt.optimizer import from_config
  from hw2_jax.gpt.train import create_state

  # the whole step as gpt-train runs it: gpt_tokens' own (float32; the attention path the
  # backend would choose, or the fused one)
  step = lambda p, fused=None: jax_step(model_type, batch_size, block_size, k, p, "fp32", fused)
  parts = {}
  parts["step"], _, _, model_cfg = step(dropout)
  parts["step, dropout 0"] = step(0.0)[0]
  parts["step, dropout 0, fused attention"] = step(0.0, True)[0]
  cfg = Config(model_type=model_type, train_batch_size=batch_size, block_size=block_size,
               dropout=dropout)  # fmt: skip
  tx = from_config(cfg, 1)
  state = create_state(model_cfg, tx, 0)
  key = jax.random.key(0)
  x_BxT = jax.random.randint(key, (batch_size, block_size), 0, model_cfg.vocab_size, jnp.int32)
  model = GPT(model_cfg)

  def loss(p, i):
    rngs = {"dropout": jax.random.fold_in(key, i)}
    logits = model.apply({"params": p}, x_BxT, train=True, rngs=rngs)
    return optax.softmax_cross_entropy_with_integer_labels(logits, x_BxT).mean()

  def forward(c, _):
    p, i = c
    scale = 1 + 1e-30 * loss(p, i)
    return jax.tree.map(lambda w: w * scale, p), i + 1

  def forward_backward(c, _):
    p, i = c
    return jax.tree.map(lambda w, g: w - 1e-30 * g, p, jax.grad(loss)(p, i)), i + 1

  def optimizer(c, _):
    p, s = c
    updates, s = tx.update(p, s, p)  # the parameters stand in for a gradient
    return optax.apply_updates(p, updates), s

  start = (state.params, jnp.int32(0))
  parts["forward"] = _repeated(forward, start, k)
  parts["forward + backward"] = _repeated(forward_backward, start, k)
  parts["optimizer"] = _repeated(optimizer, (state.params, state.opt_state), k)

  B, T, D, H, L = batch_size, block_size, model_cfg.n_embd, model_cfg.n_head, model_cfg.n_layer
  sites = [(B, T, D)] + [(B, H, T, T), (B, T, D), (B, T, D)] * L  # embedding, then per layer

  def masks(c, _):
    keys = jax.random.split(jax.random.fold_in(key, c), len(sites))
    drawn = [dropout_keep(k, dropout, s)[0] for k, s in zip(keys, sites)]
    return c + sum(m.sum(dtype=jnp.int32) for m in drawn)

  parts["dropout masks"] = _repeated(masks, jnp.int32(0), k)
  parts["matmuls"] = _matmuls(B * T, D, H, T, L, model_cfg.vocab_size, k)
  return parts


def _matmuls(N: int, D: int, H: int, T: int, L: int, V: int, k: int):
  """The step's GEMMs alone, float32: per layer the four dense layers (qkv, proj, fc, proj) and
  the attention's two products, and the head, each forward with its two backward products
  (distinct inputs, so XLA computes every one)."""
  import jax
  import jax.numpy as jnp

  key, hi = jax.random.key(1), jax.lax.Precision.HIGHEST
  dense = [(D, 3 * D), (D, D), (D, 4 * D), (4 * D, D)] * L + [(D, V)]
  x_N_I = [jax.random.normal(key, (N, i)) for i, _ in dense]
  w_IxO = [jax.random.normal(key, (i, o)) for i, o in dense]
  q_BxHxTxK = jax.random.normal(key, (N // T, H, T, D // H))
  p_BxHxTxS = jax.random.normal(key, (N // T, H, T, T))

  def body(c, arrays):
    x_N_I, w_IxO, q_BxHxTxK, p_BxHxTxS = arrays
    total = c * 1e-30
    for x, w in zip(x_N_I, w_IxO):
      y = jnp.dot(x, w + total, precision=hi)
      total += y.sum() + jnp.dot(y, w.T, precision=hi).sum() + jnp.dot(x.T, y, precision=hi).sum()
    q = q_BxHxTxK + total
    for i in range(3 * L):  # scores and probs @ v, forward and the two backward products each
      total += jnp.einsum("bhtk,bhsk->bhts", q + i, q, precision=hi).sum()
      total += jnp.einsum("bhts,bhsk->bhtk", p_BxHxTxS + i, q, precision=hi).sum()
    return total

  return _repeated(body, jnp.float32(0), k, (x_N_I, w_IxO, q_BxHxTxK, p_BxHxTxS))


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(
    prog="python -m benchmarks.gpt_parts",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument("--model", default="gpt-micro")
  p.add_argument("--batch-size", type=int, default=128)
  p.add_argument("--block-size", type=int, default=128)
  p.add_argument("--dropout", type=float, default=0.1)
  p.add_argument("--repeats", type=int, default=5, help="timed rounds (every part once each)")
  p.add_argument(
    "--steps-per-call",
    type=int,
    default=10,
    help="times each part runs in one device call, as gpt-train runs --log-every steps in one call",
  )
  output.add_flags(p, "gpt_parts", quick="2 timed rounds")
  args = output.parse(p, argv, "gpt_parts")
  if args.quick:
    args.repeats = 2

  import jax

  from hw2_jax.core import devices
  from hw2_jax.core.render import markdown_table

  k = args.steps_per_call
  parts = _programs(args.model, args.batch_size, args.block_size, args.dropout, k)
  for call in parts.values():  # compile and warm up
    call()
    call()
  ms = {name: [] for name in parts}
  for _ in range(args.repeats):
    for name, call in parts.items():
      t0 = time.perf_counter()
      call()
      ms[name].append(1e3 * (time.perf_counter() - t0) / k)
  median = {name: float(np.median(v)) for name, v in ms.items()}
  step = median["step"]
  rows = [[name, f"{m:.0f}", f"{m / step:.2f}"] for name, m in median.items()]
  result = {
    "device": devices.describe(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
    "jax": jax.__version__, "model": args.model, "batch_size": args.batch_size,
    "block_size": args.block_size, "dropout": args.dropout, "repeats": args.repeats,
    "steps_per_call": k,
    "load_avg_1m_at_end": os.getloadavg()[0], "ms_median": median, "ms_all": ms,
  }  # fmt: skip
  table = markdown_table(["part", "ms (median)", "of the step"], rows)
  head = (f"# Where a GPT step's time goes: {args.model}, batch {args.batch_size} x "
          f"{args.block_size}, dropout {args.dropout}, float32, {k} per device call, "
          f"{result['device']}\n\n")  # fmt: skip
  print(table)
  rundir.write_outputs(
    args.out,
    {"gpt_parts.json": (json.dumps(result, indent=2) + "\n").encode(),
     "gpt_parts.md": (head + table + "\n").encode()},
    print,
  )  # fmt: skip
  return result


if __name__ == "__main__":
  startup.reexec("benchmarks.gpt_parts")
  startup.init()
  main()
