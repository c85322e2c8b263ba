"""Training and evaluation: pure functions vmapped over seeds and jitted once, and the epoch loop.

The state is a `TrainState` whose leaves have a leading seed axis S, split over every device
of every process. The data lives on the devices as uint8 and each step gathers its batch by
index, so shuffling (`jax.random.permutation` per epoch) and augmentation (one random angle
per image, per draw) happen inside the jitted step. Randomness comes from named streams of
the run's key (core/rng.py): "init" (seed s: its s-th key), "shuffle" and "augment" (per epoch),
so the epochs after a saved epoch k are those of an uninterrupted run. The model (model.py) is
an argument of every function: the study passes the plain CNN or the C4-equivariant one.

Dimension letters: S seeds, N images of the split, T steps of an epoch, B images of a batch,
H/W/C image axes, K classes, A angles, E epochs.
"""

import functools
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from tqdm.auto import tqdm

from hw2_jax.core import devices, rng
from hw2_jax.rotation.rotate import random_angles, rotate


class TrainState(NamedTuple):
  params: Any
  opt_state: Any


def optimizer(learning_rate: float) -> optax.GradientTransformation:
  return optax.adam(learning_rate)  # torch.optim.Adam defaults: b1 .9, b2 .999, eps 1e-8


@functools.partial(jax.jit, static_argnums=(0, 2))
def _init_one(model: nn.Module, key: jax.Array, learning_rate: float) -> TrainState:
  params = model.init(key, jnp.zeros((1, 32, 32, 3), jnp.float32))["params"]
  return TrainState(params, optimizer(learning_rate).init(params))


def init_state(model: nn.Module, seed: int, seeds: int, learning_rate: float) -> TrainState:
  """The state of `seeds` models stacked on a leading axis; model s starts from the s-th key
  of the run's "init" stream (one jitted init per model, then stacked)."""
  init_key = rng.stream(rng.root(seed), "init")
  states = [_init_one(model, jax.random.fold_in(init_key, s), learning_rate) for s in range(seeds)]
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def to_float(images_BxHxWxC: jax.Array) -> jax.Array:
  return images_BxHxWxC.astype(jnp.float32) / 255.0


def _loss(model: nn.Module, params, x_BxHxWxC, labels_B, mask_B):
  logits_BxK = model.apply({"params": params}, x_BxHxWxC)
  ce_B = optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B)
  return jnp.sum(ce_B * mask_B) / jnp.maximum(jnp.sum(mask_B), 1.0)


def epoch_keys(seed: int, epoch: int) -> tuple[jax.Array, jax.Array]:
  """(shuffle key, augmentation key) of an epoch: fresh batch orders and angles each epoch."""
  root = rng.root(seed)
  return (
    jax.random.fold_in(rng.stream(root, "shuffle"), epoch),
    jax.random.fold_in(rng.stream(root, "augment"), epoch),
  )


def step_keys(aug_key: jax.Array, t, seeds: int) -> jax.Array:
  """One augmentation key per seed for step `t` (each draws one angle per image)."""
  return jax.random.split(jax.random.fold_in(aug_key, t), seeds)


def training_batch(images_NxHxWxC, idx_B, key, *, augment: bool, max_angle: float):
  """The images a step trains on: gathered by index and, when `augment`, randomly rotated."""
  batch_BxHxWxC = images_NxHxWxC[idx_B]
  if augment:
    batch_BxHxWxC = rotate(batch_BxHxWxC, random_angles(key, idx_B.shape[0], max_angle))
  return batch_BxHxWxC


def _train_step_one(
  state: TrainState, images_NxHxWxC, labels_N, idx_B, mask_B, key, *, model, augment: bool,
  max_angle: float, learning_rate: float,
):  # fmt: skip
  batch_BxHxWxC = training_batch(images_NxHxWxC, idx_B, key, augment=augment, max_angle=max_angle)
  loss, grads = jax.value_and_grad(_loss, argnums=1)(
    model, state.params, to_float(batch_BxHxWxC), labels_N[idx_B], mask_B
  )
  updates, opt_state = optimizer(learning_rate).update(grads, state.opt_state, state.params)
  return TrainState(optax.apply_updates(state.params, updates), opt_state), loss


@functools.partial(
  jax.jit, static_argnames=("model", "augment", "max_angle", "learning_rate"), donate_argnums=(0,)
)
def train_step(
  states: TrainState, images_NxHxWxC, labels_N, idx_SxTxB, mask_TxB, key, t, *, model,
  augment: bool, max_angle: float, learning_rate: float,
):  # fmt: skip
  """Adam step `t` of an epoch for every seed: each seed has its own batch order and angles."""
  seeds = idx_SxTxB.shape[0]
  keys_S = step_keys(key, t, seeds)
  step = functools.partial(
    _train_step_one, model=model, augment=augment, max_angle=max_angle,
    learning_rate=learning_rate,
  )  # fmt: skip
  if seeds == 1:  # same result; XLA's CPU convs run ~10% faster without the batched weights
    state, loss = step(
      jax.tree.map(lambda a: a[0], states), images_NxHxWxC, labels_N, idx_SxTxB[0, t],
      mask_TxB[t], keys_S[0],
    )  # fmt: skip
    return jax.tree.map(lambda a: a[None], state), loss[None]
  return jax.vmap(step, in_axes=(0, None, None, 0, None, 0))(
    states, images_NxHxWxC, labels_N, idx_SxTxB[:, t], mask_TxB[t], keys_S
  )


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def epoch_batches(key: jax.Array, seeds: int, n: int, batch_size: int):
  """Per-seed shuffled index batches, as the DataLoader (shuffle=True, drop_last=False).

  Returns idx_SxTxB and mask_TxB; the last batch is padded and masked out of the loss.
  """
  steps = -(-n // batch_size)
  perms_SxN = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, seeds))
  pad = steps * batch_size - n
  idx_SxTxB = jnp.pad(perms_SxN, ((0, 0), (0, pad))).reshape(seeds, steps, batch_size)
  mask_TxB = (jnp.arange(steps * batch_size) < n).astype(jnp.float32).reshape(steps, batch_size)
  return idx_SxTxB, mask_TxB


def train_epochs(
  model, state, images, labels, cfg, *, augment: bool, mesh, name: str, start: int = 0,
  on_epoch=None, stop=None,
):  # fmt: skip
  """Epochs `start`.. of `cfg.epochs` (rotation Config) for the stacked seeds of `state`, on
  `images`/`labels` already on the devices; yields (epoch, state, losses_S) after each one,
  so the caller can save a checkpoint, and stops early when `stop` (core/interrupt) asks."""
  seeds, n = jax.tree.leaves(state)[0].shape[0], images.shape[0]
  batch_size = min(cfg.batch_size, n)  # one batch of all images, as a DataLoader would
  steps, seconds = -(-n // batch_size), 0.0
  for epoch in range(start, cfg.epochs):
    shuffle_key, aug_key = epoch_keys(cfg.seed, epoch)
    idx_SxTxB, mask_TxB = devices.put(
      devices.fetch(epoch_batches(shuffle_key, seeds, n, batch_size)), devices.replicated(mesh)
    )
    if stop is not None:
      stop.running(seconds)
    step_losses, t0 = [], time.perf_counter()
    bar = tqdm(
      range(steps), desc=f"{name} epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
      disable=not devices.is_main_process() or None,
    )  # fmt: skip
    for t in bar:
      state, loss_S = train_step(
        state, images, labels, idx_SxTxB, mask_TxB, aug_key, jnp.int32(t), model=model,
        augment=augment, max_angle=cfg.max_augment_angle, learning_rate=cfg.learning_rate,
      )  # fmt: skip
      step_losses.append(loss_S)
      if t % 50 == 49 or t == steps - 1:
        recent = np.mean(np.stack(devices.fetch(step_losses[-50:]))[:, : cfg.seeds])
        bar.set_postfix(loss=f"{recent:.3f}")
    seconds = time.perf_counter() - t0
    yield epoch, state, np.mean(np.stack(devices.fetch(step_losses)), axis=0), seconds


def reduce_angle(angle: float) -> float:
  """`angle` modulo 360, computed in float64 (float32 would turn 1e9 degrees into another
  angle before any rotation)."""
  return float(np.float64(angle) % 360.0)


@functools.partial(jax.jit, static_argnames="model")
def correct_count(model, params_S, images_BxHxWxC, labels_B, mask_B, angle):
  """Per seed, how many real (mask 1) images of the batch rotated by `angle` are classified
  right."""

  def one(params):
    x = rotate(images_BxHxWxC, jnp.full((images_BxHxWxC.shape[0],), angle, jnp.float32))
    logits_BxK = model.apply({"params": params}, to_float(x))
    return jnp.sum((jnp.argmax(logits_BxK, -1) == labels_B) * mask_B)

  return jax.vmap(one)(params_S)


def evaluate(
  model, params_S, images_NxHxWxC, labels_N, angles, batch_size: int = 1000
) -> np.ndarray:
  """Accuracy in percent, angles x seeds, on the test set rotated by each angle (reduced
  modulo 360 in float64 first, so 1e9 degrees is the angle it names). Angles that reduce to
  the same one (0 and 360 of the default protocol) are evaluated once and their row repeated."""
  n = images_NxHxWxC.shape[0]
  batch_size = min(batch_size, n)
  steps = -(-n // batch_size)
  pad = steps * batch_size - n
  images = np.pad(np.asarray(images_NxHxWxC), ((0, pad), (0, 0), (0, 0), (0, 0)))
  labels = np.pad(np.asarray(labels_N), (0, pad))
  mask = (np.arange(steps * batch_size) < n).astype(np.float32)
  accuracy = {}  # reduced angle -> accuracy per seed
  for angle in dict.fromkeys(map(reduce_angle, angles)):
    total_S = 0
    for t in range(steps):
      sl = slice(t * batch_size, (t + 1) * batch_size)
      total_S = total_S + devices.fetch(
        correct_count(model, params_S, images[sl], labels[sl], mask[sl], angle)
      )
    accuracy[angle] = np.asarray(total_S) / n * 100.0
  return np.stack([accuracy[reduce_angle(angle)] for angle in angles])
