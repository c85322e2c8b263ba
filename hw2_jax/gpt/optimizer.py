"""AdamW with global-norm clipping; weight decay on linear weights only."""

import functools

import jax
import optax


def decay_mask(params):
  """True for Dense kernels; False for biases, norm scales and embeddings."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


@functools.cache  # one object per setting, so jitted steps that close over it are reused
def make_optimizer(learning_rate: float, weight_decay: float, b1: float = 0.9,
                   b2: float = 0.95, clip_grad_norm: float = 1.0):
  return optax.chain(
      optax.clip_by_global_norm(clip_grad_norm),
      optax.adamw(learning_rate, b1=b1, b2=b2, weight_decay=weight_decay, mask=decay_mask))
