"""Pure training and evaluation functions, vmapped over seeds and jitted once.

State is a plain pytree `{"params", "opt_state"}` with a leading seed axis; the data
lives on device as uint8 and each step gathers its batch by index, so shuffling
(`jax.random.permutation` per epoch) and augmentation (one random angle per image,
per draw) happen inside the jitted step.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hw2_jax.rotation.model import CNN
from hw2_jax.rotation.rotate import random_angles, rotate

MODEL = CNN()


def optimizer(learning_rate: float) -> optax.GradientTransformation:
  return optax.adam(learning_rate)  # torch.optim.Adam defaults: b1 .9, b2 .999, eps 1e-8


def init_state(key: jax.Array, learning_rate: float) -> dict:
  params = MODEL.init(key, jnp.zeros((1, 32, 32, 3), jnp.float32))["params"]
  return {"params": params, "opt_state": optimizer(learning_rate).init(params)}


_init_state_jit = jax.jit(init_state, static_argnums=1)


def init_states(seed: int, seeds: int, learning_rate: float) -> dict:
  """Seed-stacked states: seed s is initialised from fold_in(PRNGKey(seed), s).

  One jitted init per seed, stacked: bitwise the same as the eager `vmap(init_state)` that
  produced the committed results (a jitted vmap rounds the bias bounds 1 ulp differently)."""
  states = [_init_state_jit(jax.random.fold_in(jax.random.PRNGKey(seed), s), learning_rate)
            for s in range(seeds)]
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def to_float(images_BxHxWxC: jax.Array) -> jax.Array:
  return images_BxHxWxC.astype(jnp.float32) / 255.0


def _loss(params, x_BxHxWxC, labels_B, mask_B):
  logits_BxK = MODEL.apply({"params": params}, x_BxHxWxC)
  ce_B = optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B)
  return jnp.sum(ce_B * mask_B) / jnp.maximum(jnp.sum(mask_B), 1.0)


def epoch_keys(seed: int, epoch: int) -> tuple[jax.Array, jax.Array]:
  """(shuffle key, augmentation key) of an epoch: fresh batch orders and angles each epoch."""
  epoch_key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), 1), epoch)
  return jax.random.fold_in(epoch_key, 0), jax.random.fold_in(epoch_key, 1)


def step_keys(aug_key: jax.Array, t, seeds: int) -> jax.Array:
  """One augmentation key per seed for step `t` (each draws one angle per image)."""
  return jax.random.split(jax.random.fold_in(aug_key, t), seeds)


def _train_step_one(state, images_NxHxWxC, labels_N, idx_B, mask_B, key, *,
                    augment: bool, max_angle: float, learning_rate: float):
  batch_BxHxWxC = images_NxHxWxC[idx_B]
  if augment:
    batch_BxHxWxC = rotate(batch_BxHxWxC, random_angles(key, idx_B.shape[0], max_angle))
  loss, grads = jax.value_and_grad(_loss)(state["params"], to_float(batch_BxHxWxC),
                                          labels_N[idx_B], mask_B)
  updates, opt_state = optimizer(learning_rate).update(grads, state["opt_state"],
                                                       state["params"])
  params = optax.apply_updates(state["params"], updates)
  return {"params": params, "opt_state": opt_state}, loss


@functools.partial(jax.jit, static_argnames=("augment", "max_angle", "learning_rate"),
                   donate_argnums=(0,))
def train_step(states, images_NxHxWxC, labels_N, idx_SxTxB, mask_TxB, key, t, *,
               augment: bool, max_angle: float, learning_rate: float):
  """Adam step `t` of an epoch for every seed: each seed has its own batch order and angles."""
  seeds = idx_SxTxB.shape[0]
  keys_S = step_keys(key, t, seeds)
  step = functools.partial(_train_step_one, augment=augment, max_angle=max_angle,
                           learning_rate=learning_rate)
  if seeds == 1:  # same result; XLA's CPU convs run ~10% faster without the batched weights
    state, loss = step(jax.tree.map(lambda a: a[0], states), images_NxHxWxC, labels_N,
                       idx_SxTxB[0, t], mask_TxB[t], keys_S[0])
    return jax.tree.map(lambda a: a[None], state), loss[None]
  return jax.vmap(step, in_axes=(0, None, None, 0, None, 0))(
      states, images_NxHxWxC, labels_N, idx_SxTxB[:, t], mask_TxB[t], keys_S)


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


def _correct_one(params, images_BxHxWxC, labels_B, mask_B, angle):
  x = rotate(images_BxHxWxC, jnp.full((images_BxHxWxC.shape[0],), angle, jnp.float32))
  logits_BxK = MODEL.apply({"params": params}, to_float(x))
  return jnp.sum((jnp.argmax(logits_BxK, -1) == labels_B) * mask_B)


@jax.jit
def correct_count(params_S, images_BxHxWxC, labels_B, mask_B, angle):
  return jax.vmap(_correct_one, in_axes=(0, None, None, None, None))(
      params_S, images_BxHxWxC, labels_B, mask_B, angle)


def evaluate(params_S, images_NxHxWxC, labels_N, angles, batch_size: int = 1000) -> np.ndarray:
  """Accuracy in percent, angles x seeds, on the test set rotated by each angle."""
  n = images_NxHxWxC.shape[0]
  batch_size = min(batch_size, n)
  steps = -(-n // batch_size)
  pad = steps * batch_size - n
  images = jnp.pad(jnp.asarray(images_NxHxWxC), ((0, pad), (0, 0), (0, 0), (0, 0)))
  labels = jnp.pad(jnp.asarray(labels_N), (0, pad))
  mask = (jnp.arange(steps * batch_size) < n).astype(jnp.float32)
  out = []
  for angle in angles:
    total = 0
    for t in range(steps):
      sl = slice(t * batch_size, (t + 1) * batch_size)
      total = total + correct_count(params_S, images[sl], labels[sl], mask[sl], float(angle))
    out.append(np.asarray(total) / n * 100.0)
  return np.stack(out)
