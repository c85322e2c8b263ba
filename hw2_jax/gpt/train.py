"""Training: jitted, donated steps that draw their own batches on the devices, and the step
loop; the driver (gpt/study.py) handles evaluation, samples, checkpoints and the log.

The steps between two fetches of the metrics (--log-every) run as one device call, a
`lax.scan` over `train_step` (the same numbers as one call per step, bit for bit): the host
dispatches once per window, and XLA allocates a step's temporaries once per call instead of
once per step, which on a CPU is most of the difference between a small model's step and its
arithmetic (docs/performance.md). A stop request (Ctrl-C, SIGTERM) is honoured between calls.

Randomness comes from named streams of the run's key (core/rng.py): the step-th batch and
dropout mask from fold_in("batches"/"dropout", step), so a run resumed from a checkpoint
(parameters, optimizer state, step, key) continues with exactly the losses of an uninterrupted
run. Data parallel: parameters are replicated over every device of every process and each
batch is split along the mesh's one axis.
"""

import functools
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from hw2_jax.core import devices, memory, rng
from hw2_jax.core.errors import Interrupted
from hw2_jax.gpt import data as data_lib
from hw2_jax.gpt.config import ModelConfig
from hw2_jax.gpt.model import GPT, init_params


class TrainState(NamedTuple):
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array  # the run's key as raw key data (checkpointable)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def create_state(model_cfg: ModelConfig, tx, seed: int) -> TrainState:
  root = rng.root(seed)
  params = init_params(model_cfg, rng.stream(root, "init"))
  return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.key_data(root))


def _loss_and_acc(logits_BxTxV, y_BxT):
  loss = optax.softmax_cross_entropy_with_integer_labels(logits_BxTxV, y_BxT).mean()
  return loss, jnp.mean(jnp.argmax(logits_BxTxV, -1) == y_BxT)


def train_step(
  state: TrainState,
  data_N,
  *,
  model,
  tx,
  lr_fn,
  batch_size: int,
  block_size: int,
  batch_sharding=None,
):
  """One AdamW step on the step-th batch; returns (state, metrics)."""
  root = jax.random.wrap_key_data(state.rng)
  data_key = jax.random.fold_in(rng.stream(root, "batches"), state.step)
  dropout_key = jax.random.fold_in(rng.stream(root, "dropout"), state.step)
  x_BxT, y_BxT = data_lib.sample_batch(data_key, data_N, batch_size, block_size)
  if batch_sharding is not None:
    x_BxT = jax.lax.with_sharding_constraint(x_BxT, batch_sharding)
    y_BxT = jax.lax.with_sharding_constraint(y_BxT, batch_sharding)

  def loss_fn(params):
    logits_BxTxV = model.apply({"params": params}, x_BxT, train=True, rngs={"dropout": dropout_key})
    return _loss_and_acc(logits_BxTxV, y_BxT)

  (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = state._replace(
    step=state.step + 1, opt_state=opt_state, params=optax.apply_updates(state.params, updates)
  )
  metrics = {"loss": loss, "acc": acc, "grad_norm": optax.tree.norm(grads), "lr": lr_fn(state.step)}
  return new_state, metrics


def eval_step(
  params,
  data_N,
  rng_data,
  *,
  model,
  num_batches: int,
  batch_size: int,
  block_size: int,
  batch_sharding=None,
):
  """Mean loss and next-character accuracy over the run's fixed validation batches."""
  key = rng.stream(jax.random.wrap_key_data(rng_data), "eval")
  x_KxBxT, y_KxBxT = data_lib.eval_batches(key, data_N, num_batches, batch_size, block_size)

  def one(xy):
    x_BxT, y_BxT = xy
    if batch_sharding is not None:
      x_BxT = jax.lax.with_sharding_constraint(x_BxT, batch_sharding)
    return _loss_and_acc(model.apply({"params": params}, x_BxT), y_BxT)

  loss_K, acc_K = jax.lax.map(one, (x_KxBxT, y_KxBxT))
  return {"val_loss": loss_K.mean(), "val_acc": acc_K.mean()}


def train_steps(state: TrainState, data_N, *, num_steps: int, **step_kwargs):
  """`num_steps` consecutive steps in one call; their metrics stacked along a leading axis."""
  return jax.lax.scan(
    lambda s, _: train_step(s, data_N, **step_kwargs), state, None, length=num_steps
  )


@functools.cache  # one compiled program per setting within a process
def make_train_step(
  model_cfg: ModelConfig, tx, lr_fn, batch_size: int, mesh, num_steps: int | None = None
):
  """The jitted step for `model_cfg` (batch split over `mesh`), state donated; with
  `num_steps`, that many steps per call (`train_steps`)."""
  kwargs = dict(
    model=GPT(model_cfg),
    tx=tx,
    lr_fn=lr_fn,
    batch_size=batch_size,
    block_size=model_cfg.block_size,
    batch_sharding=devices.leading_axis_sharding(mesh, batch_size),
  )
  if num_steps is None:
    return jax.jit(functools.partial(train_step, **kwargs), donate_argnums=0)
  return jax.jit(functools.partial(train_steps, num_steps=num_steps, **kwargs), donate_argnums=0)


@functools.cache
def make_eval_step(model_cfg: ModelConfig, num_batches: int, batch_size: int, mesh):
  return jax.jit(
    functools.partial(
      eval_step,
      model=GPT(model_cfg),
      num_batches=num_batches,
      batch_size=batch_size,
      block_size=model_cfg.block_size,
      batch_sharding=devices.leading_axis_sharding(mesh, batch_size),
    )
  )


def bytes_per_device(
  model_cfg: ModelConfig, batch_size: int, devices_count: int, eval_iters: int = 0
) -> float:
  """core/memory.estimate of a step: parameters with Adam and gradients (four copies), the
  activations a step keeps for its backward pass (~16 widths and two attention rows per token
  and layer, and the logits), and the fixed evaluation batches."""
  d, t, layers = model_cfg.n_embd, model_cfg.block_size, model_cfg.n_layer
  tokens = -(-batch_size // devices_count) * t
  per_token = layers * (16 * d + 2 * model_cfg.n_head * t) + 3 * model_cfg.vocab_size
  return memory.estimate(
    params=layers * 12 * d * d + 2 * model_cfg.vocab_size * d,
    copies=4,
    activations=tokens * per_token,
    data_bytes=2 * 4 * eval_iters * batch_size * t,
  )


def _next_stop(cfg, step: int, total: int) -> int:
  """The next step at which something happens: a log window ends, an evaluation, samples, a
  checkpoint, or the end."""
  cadences = [
    c for c in (cfg.log_every, cfg.eval_every, cfg.generate_every, cfg.checkpoint_every) if c
  ]
  return min([total] + [(step // c + 1) * c for c in cadences])


def train_loop(cfg, steps_fn, data_N, state, start: int, total: int, events, stop):
  """Steps `start`.. `total`, one device call up to the next thing to do (`_next_stop`); the
  metrics are fetched every --log-every steps, and evaluation, samples and checkpoints come at
  their own cadences (`events`, gpt/study.py). A stop request is honoured after the device
  call in progress, whose length `stop` is told so it can say how long the wait is."""
  step, per_step = start, 0.0
  while step < total:
    n = _next_stop(cfg, step, total) - step
    stop.running(n * per_step)
    t0 = time.perf_counter()
    state, metrics = steps_fn(n)(state, data_N)
    step += n
    events.log.add(metrics)
    every = lambda cadence, step=step: cadence and step % cadence == 0 and step < total
    if step == start + n:  # includes compiling: left out of tokens/s
      events.flush(step, timed=False)
    elif every(cfg.log_every):
      events.flush(step)
      per_step = (time.perf_counter() - t0) / n
      events.plan(step, per_step)
    if every(cfg.eval_every):
      events.evaluate(state, step)
    if every(cfg.generate_every):
      events.sample(state, step)
    if every(cfg.checkpoint_every):
      events.save(state, step)
    if stop.requested(sync=every(cfg.log_every)):
      events.save(state, step)
      raise Interrupted(
        f"interrupted ({stop.name}) at step {step}: saved {events.saved_in()}/{step}; continue "
        "with the same command and --resume."
      )
  return state, step
