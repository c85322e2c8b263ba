"""Training many seeds of one configuration at once, as the original script trains one.

Cross-entropy, Adadelta (PyTorch's weight decay: added to the gradient), batches in a fixed
order, validation after every epoch, the parameters with the lowest validation loss kept, and
a stop after `patience` epochs without improvement. Every seed is a slice of the leading axis
of `SeedsState`; one jitted `epoch_step` trains all of them for an epoch (`lax.scan` over the
batches, `jax.vmap` over seeds) and applies early stopping by masking, so Python only drives
epochs and the progress bar. The seeds are split over every device of every process (a
multi-process run gives the numbers of one process with as many devices).

A seed whose validation loss becomes non-finite stops improving, so it keeps its last good
parameters; it is flagged `diverged` for the report rather than averaged in silently.

`train_seeds` is the epoch loop. It can start from a saved state (`state`, `start`): training
has no randomness after the initial parameters, so a run continued from the state after epoch
k has exactly the numbers of an uninterrupted one. After each epoch it calls `on_epoch` (the
study's progress bar and periodic checkpoint) and, when a stop was requested (Ctrl-C, SIGTERM),
raises `Stopped` with the state for the caller to save.

Dimension letters: S seeds, K batches of an epoch, B images of a batch, H/W/C image axes.
"""

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from hw2_jax.core import devices
from hw2_jax.padding.config import Recipe


def optimizer(cfg: Recipe) -> optax.GradientTransformation:
  """torch.optim.Adadelta(lr, rho, eps, weight_decay): decay is added to the gradient."""
  return optax.adadelta(cfg.learning_rate, rho=cfg.rho, eps=cfg.eps, weight_decay=cfg.weight_decay)


class SeedsState(NamedTuple):
  """Per-seed training state; every leaf has a leading seeds axis S."""

  params: Any
  opt_state: Any
  best_params: Any
  best_loss: jax.Array  # S, lowest validation loss so far
  bad_epochs: jax.Array  # S, epochs since the last improvement
  active: jax.Array  # S, still training
  epochs: jax.Array  # S, epochs trained
  val_acc: jax.Array  # S, validation accuracy (%) of the last epoch trained
  diverged: jax.Array  # S, a validation loss was non-finite


class EpochMetrics(NamedTuple):
  val_loss: jax.Array  # S
  val_acc: jax.Array  # S
  active: jax.Array  # S, still training after this epoch


def to_batches(x: np.ndarray, batch_size: int) -> np.ndarray:
  """N x ... -> (N / batch_size) x batch_size x ..., in order (no shuffling)."""
  return x.reshape(x.shape[0] // batch_size, batch_size, *x.shape[1:])


def init_state(model: nn.Module, cfg: Recipe, seeds, image_shape) -> SeedsState:
  """Seed s's parameters are `model.init(key(s), x)`'s, made without running the model.

  `lazy_init` evaluates only the parameter initialisers, and the whole state is one jitted
  program: run op by op, initialising compiled a program for every operation and shape
  (about 60 of the study's compilations; each GEMM shape autotuned on a GPU).
  """
  return _init_state(model, cfg, jnp.asarray(seeds), tuple(image_shape))


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _init_state(model: nn.Module, cfg: Recipe, seeds_S, image_shape) -> SeedsState:
  x_1HWC = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
  mode = jnp.int32(0)  # the parameters do not depend on the padding's mode
  init = lambda seed: model.lazy_init(jax.random.key(seed), x_1HWC, mode)["params"]
  params = jax.vmap(init)(seeds_S)
  num = seeds_S.shape[0]
  return SeedsState(
    params=params,
    opt_state=jax.vmap(optimizer(cfg).init)(params),
    best_params=jax.tree.map(jnp.copy, params),
    best_loss=jnp.full((num,), jnp.inf, jnp.float32),
    bad_epochs=jnp.zeros((num,), jnp.int32),
    active=jnp.ones((num,), bool),
    epochs=jnp.zeros((num,), jnp.int32),
    val_acc=jnp.zeros((num,), jnp.float32),
    diverged=jnp.zeros((num,), bool),
  )


def _loss(params, model, x_BHWC, y_B, mode=None):
  logits_Bx2 = model.apply({"params": params}, x_BHWC, mode)
  return optax.softmax_cross_entropy_with_integer_labels(logits_Bx2, y_B).mean()


def evaluate(params, model, x_KBHWC, y_KB, mode=None):
  """Per seed: (sum of batch-mean losses / number of images, accuracy in %), as the original."""

  def batch(carry, xy):
    x_BHWC, y_B = xy
    logits_SxBx2 = jax.vmap(lambda p: model.apply({"params": p}, x_BHWC, mode))(params)
    y_SxB = jnp.broadcast_to(y_B, logits_SxBx2.shape[:2])
    loss_S = optax.softmax_cross_entropy_with_integer_labels(logits_SxBx2, y_SxB).mean(-1)
    correct_S = (logits_SxBx2.argmax(-1) == y_B).sum(-1)
    return (carry[0] + loss_S, carry[1] + correct_S), None

  num_seeds = jax.tree.leaves(params)[0].shape[0]
  zeros = (jnp.zeros((num_seeds,), jnp.float32), jnp.zeros((num_seeds,), jnp.int32))
  (loss_S, correct_S), _ = jax.lax.scan(batch, zeros, (x_KBHWC, y_KB))
  num_images = x_KBHWC.shape[0] * x_KBHWC.shape[1]
  return loss_S / num_images, 100.0 * correct_S / num_images


def _masked(active_S, new, old):
  return jax.tree.map(
    lambda n, o: jnp.where(active_S.reshape(-1, *[1] * (n.ndim - 1)), n, o), new, old
  )


def train_epoch(state: SeedsState, model, cfg: Recipe, x_KBHWC, y_KB, mode=None) -> SeedsState:
  """One epoch over the fixed batch order; seeds that stopped keep their parameters."""
  tx = optimizer(cfg)

  def seed_step(params, opt_state, x_BHWC, y_B):
    grads = jax.grad(_loss)(params, model, x_BHWC, y_B, mode)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  def batch(carry, xy):
    params, opt_state = carry
    new = jax.vmap(seed_step, in_axes=(0, 0, None, None))(params, opt_state, *xy)
    return _masked(state.active, new, (params, opt_state)), None

  (params, opt_state), _ = jax.lax.scan(batch, (state.params, state.opt_state), (x_KBHWC, y_KB))
  return state._replace(params=params, opt_state=opt_state)


def early_stopping(state: SeedsState, val_loss_S, val_acc_S, patience: int) -> SeedsState:
  """Keeps the best parameters by validation loss; stops after `patience` epochs without gain."""
  active = state.active
  improved = active & (val_loss_S < state.best_loss)
  bad_epochs = jnp.where(improved, 0, state.bad_epochs + active)
  return state._replace(
    best_params=_masked(improved, state.params, state.best_params),
    best_loss=jnp.where(improved, val_loss_S, state.best_loss),
    bad_epochs=bad_epochs,
    active=active & (bad_epochs < patience),
    epochs=state.epochs + active,
    val_acc=jnp.where(active, val_acc_S, state.val_acc),
    diverged=state.diverged | (active & ~jnp.isfinite(val_loss_S)),
  )


@functools.partial(jax.jit, static_argnames=("model", "cfg"), donate_argnums=0)
def epoch_step(state: SeedsState, model, cfg: Recipe, train, val, mode=None):
  """Train one epoch, validate, apply early stopping: the whole hot path, jitted once."""
  state = train_epoch(state, model, cfg, *train, mode)
  val_loss_S, val_acc_S = evaluate(state.params, model, *val, mode)
  state = early_stopping(state, val_loss_S, val_acc_S, cfg.patience)
  return state, EpochMetrics(val_loss_S, val_acc_S, state.active)


@functools.partial(jax.jit, static_argnames="model")
def test_accuracy(params, model, x_KBHWC, y_KB, mode=None):
  return evaluate(params, model, x_KBHWC, y_KB, mode)[1]


class SeedsResult(NamedTuple):
  val_acc: np.ndarray  # S, last epoch trained
  test_acc: np.ndarray  # S, best parameters on the (shifted) test set
  epochs: np.ndarray  # S
  diverged: np.ndarray  # S, a validation loss was non-finite
  similar_acc: np.ndarray | None = None  # S, best parameters on the unshifted test set


class Stopped(Exception):
  """A stop was requested after epoch `epoch`; `state` is the state after it."""

  def __init__(self, epoch: int, state: SeedsState):
    super().__init__(f"stopped after epoch {epoch}")
    self.epoch, self.state = epoch, state


def padded_seeds(seeds, mesh) -> list[int]:
  """`seeds` and extra ones up to a multiple of the mesh's devices (their results are dropped)."""
  seeds = list(seeds)
  extra = devices.padded_size(len(seeds), mesh) - len(seeds)
  return seeds + [max(seeds) + 1 + i for i in range(extra)]


def initial_state(model: nn.Module, cfg: Recipe, seeds, image_shape, mesh) -> SeedsState:
  """`init_state` of the padded seeds, split over the devices of `mesh`."""
  padded = padded_seeds(seeds, mesh)
  state = init_state(model, cfg, padded, image_shape)
  return devices.put(state, devices.leading_axis_sharding(mesh, len(padded)))


def train_seeds(
  model: nn.Module,
  cfg: Recipe,
  splits: dict,
  seeds,
  *,
  on_epoch: Callable[[int, EpochMetrics, SeedsState], None] | None = None,
  mesh=None,
  state: SeedsState | None = None,
  start: int = 0,
  stop=None,
  mode=None,
) -> SeedsResult:
  """Trains one model per seed on `splits` (make_splits' dict), all seeds at once.

  Seeds are spread over the devices of `mesh` (default: every device of every process); when
  their number does not divide the device count, extra seeds are trained and dropped from the
  result. `state` (from `initial_state`, or restored) after `start` epochs continues a run.
  `on_epoch(epoch, metrics, state)` sees each epoch's metrics as numpy arrays (all seeds) and
  the state after it (device arrays, sharded over `mesh`). `mode` is the padding's mode (conv.py)
  for a net made with `make_net(..., shared=True)`. `stop` (core/interrupt) is asked
  after each epoch; when it says stop, `Stopped` is raised with the state.
  """
  mesh = devices.mesh("seeds") if mesh is None else mesh
  batched = lambda split: devices.put(
    tuple(to_batches(a, cfg.batch_size) for a in split), devices.replicated(mesh)
  )
  train, val, test = (batched(splits[k]) for k in ("train", "val", "test"))
  if state is None:
    state = initial_state(model, cfg, seeds, splits["train"][0].shape[1:], mesh)
  active, seconds = bool(devices.fetch(state.active).any()), 0.0
  for epoch in range(start, cfg.epochs if active else start):
    if stop is not None:
      stop.running(seconds)
    t0 = time.perf_counter()
    state, metrics = epoch_step(state, model, cfg, train, val, mode)
    metrics = devices.fetch(metrics)
    seconds = time.perf_counter() - t0
    if on_epoch is not None:
      on_epoch(epoch, metrics, state)
    done = not metrics.active.any() or epoch + 1 == cfg.epochs
    if not done and stop is not None and stop.requested(sync=True):
      raise Stopped(epoch + 1, state)
    if done:
      break
  accuracy = lambda split: test_accuracy(state.best_params, model, *split, mode)
  similar_acc = accuracy(batched(splits["similar"])) if "similar" in splits else None
  n = len(list(seeds))
  fetched = devices.fetch(
    (state.val_acc, accuracy(test), state.epochs, state.diverged, similar_acc)
  )  # the seeds asked for, without the extras that filled the devices
  return SeedsResult(*(None if a is None else a[:n] for a in fetched))
