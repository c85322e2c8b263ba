"""Rotation-study training step, the plain CNN against the C4-equivariant one (`C4CNN`).

One jitted step (forward, backward, Adam, float32 or `--precision bf16`) at batch 64, one model
or `--seeds` models under `jax.vmap` as the study trains them; the two models' steps alternate
in the same process (so both see the same machine load), after `--warmup` calls each; median
milliseconds of `--repeats` calls, their ratio, and XLA's FLOP count of each step.

Run: `python -m benchmarks.rotation_c4_step [--seeds 1] [--repeats 10]` (about a minute on a
2-core CPU); prints a Markdown table.
"""

import argparse
import time

import jax
import numpy as np
import optax

from hw2_jax.core import startup
from hw2_jax.core.render import markdown_table
from hw2_jax.rotation.model import make_model

BATCH = 64


def make_step(name: str, seeds: int, precision: str):
  """The compiled step of `seeds` models and its arguments (params, Adam state, a batch)."""
  model, opt = make_model(name, precision), optax.adam(1e-3)
  x_Bx32x32x3 = jax.random.uniform(jax.random.key(0), (BATCH, 32, 32, 3))
  labels_B = jax.random.randint(jax.random.key(1), (BATCH,), 0, 10)
  init = lambda key: model.init(key, x_Bx32x32x3[:1])["params"]
  params = jax.vmap(init)(jax.random.split(jax.random.key(2), seeds))
  opt_state = jax.vmap(opt.init)(params)

  def step_one(params, opt_state, x, labels):
    def loss(p):
      logits = model.apply({"params": p}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    value, grads = jax.value_and_grad(loss)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value

  if seeds == 1:  # as rotation/train.py: one model without the seed axis
    squeeze = lambda tree: jax.tree.map(lambda a: a[0], tree)
    params, opt_state = squeeze(params), squeeze(opt_state)
    fn = step_one
  else:
    fn = jax.vmap(step_one, in_axes=(0, 0, None, None))
  args = (params, opt_state, x_Bx32x32x3, labels_B)
  compiled = jax.jit(fn).lower(*args).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return compiled, args, float(cost.get("flops", float("nan")))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(
    prog="python -m benchmarks.rotation_c4_step", description=__doc__
  )
  parser.add_argument("--seeds", type=int, default=1)
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
  args = parser.parse_args(argv)
  names = ("plain", "c4")
  steps = {name: make_step(name, args.seeds, args.precision) for name in names}
  times = {name: [] for name in names}
  for i in range(args.warmup + args.repeats):
    for name in names:  # alternated: a change of load hits both
      compiled, step_args, _ = steps[name]
      start = time.perf_counter()
      jax.block_until_ready(compiled(*step_args))
      if i >= args.warmup:
        times[name].append(time.perf_counter() - start)
  ms = {name: 1e3 * float(np.median(times[name])) for name in names}
  rows = [
    [name, f"{ms[name]:.2f}", f"{ms[name] / ms['plain']:.2f}", f"{steps[name][2] / 1e6:.0f}"]
    for name in names
  ]
  print(
    f"batch {BATCH}, {args.seeds} seed(s), {args.precision}, {jax.default_backend()}, "
    f"median of {args.repeats}"
  )
  print(markdown_table(["model", "ms/step", "vs plain", "MFLOP/step (XLA)"], rows))


if __name__ == "__main__":
  startup.reexec("benchmarks.rotation_c4_step")
  startup.init()
  main()
