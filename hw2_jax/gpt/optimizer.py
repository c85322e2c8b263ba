"""AdamW with global-norm clipping, weight decay on linear weights only, and its schedule.

`learning_rate_schedule` is constant (the assignment's) or nanoGPT's: linear warm-up to the
peak, then cosine decay to `min_lr` at the last step (optax's warmup_cosine_decay_schedule).
"""

import functools

import jax
import optax


def decay_mask(params):
  """True for Dense kernels; False for biases, norm scales and embeddings."""
  return jax.tree_util.tree_map_with_path(
    lambda path, _: getattr(path[-1], "key", None) == "kernel", params
  )


@functools.cache  # the same function for the same setting, so jitted steps are reused
def learning_rate_schedule(
  kind: str,
  learning_rate: float,
  total_steps: int,
  warmup_steps: int = 0,
  min_learning_rate: float = 0.0,
):
  """The learning rate of update `count` (0-based): constant, or warm-up + cosine to
  `min_learning_rate` at update total_steps - 1."""
  if kind == "constant":
    return optax.constant_schedule(learning_rate)
  return optax.warmup_cosine_decay_schedule(
    init_value=0.0,
    peak_value=learning_rate,
    warmup_steps=warmup_steps,
    decay_steps=max(total_steps - 1, warmup_steps + 1),
    end_value=min_learning_rate,
  )


@functools.cache  # one object per setting, so jitted steps that close over it are reused
def make_optimizer(
  learning_rate: float,
  weight_decay: float,
  b1: float = 0.9,
  b2: float = 0.95,
  clip_grad_norm: float = 1.0,
  schedule: str = "constant",
  total_steps: int = 1,
  warmup_steps: int = 0,
  min_learning_rate: float = 0.0,
):
  lr = learning_rate_schedule(schedule, learning_rate, total_steps, warmup_steps, min_learning_rate)
  return optax.chain(
    optax.clip_by_global_norm(clip_grad_norm),
    optax.adamw(lr, b1=b1, b2=b2, weight_decay=weight_decay, mask=decay_mask),
  )


def _schedule_args(cfg, total_steps: int) -> tuple:
  return (
    cfg.lr_schedule,
    cfg.learning_rate,
    total_steps if cfg.lr_schedule != "constant" else 1,
    cfg.warmup_steps,
    cfg.min_learning_rate,
  )


def schedule_from_config(cfg, total_steps: int):
  """The learning rate by update of a run's config (gpt.config.Config) of `total_steps`."""
  return learning_rate_schedule(*_schedule_args(cfg, total_steps))


def from_config(cfg, total_steps: int):
  """The optimizer of a run's config (gpt.config.Config) for a run of `total_steps`."""
  schedule, lr, steps, warmup, min_lr = _schedule_args(cfg, total_steps)
  return make_optimizer(
    lr, cfg.weight_decay, cfg.beta1, cfg.beta2, cfg.clip_grad_norm, schedule, steps, warmup, min_lr
  )
