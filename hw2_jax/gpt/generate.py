"""Decoding: greedy, or sampling with temperature, top-k or top-p, with a key/value cache.

Up to block_size tokens the cache makes each new token cost one position. Past
block_size the context is cropped to the last block_size tokens as in the original
(positions restart at 0 for the cropped window), which a cache can't reuse, so
those steps run the model on the whole cropped window. Greedy decoding gives the
same tokens with and without the cache.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hw2_jax.gpt.config import ModelConfig
from hw2_jax.gpt.model import GPT, init_cache


def filter_logits(
  logits_BxV, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
):
  """Scales by 1/temperature, then keeps the top-k tokens or the top-p nucleus (-inf elsewhere).

  Top-p keeps the smallest set of most likely tokens whose probability sums to >= p.
  """
  logits_BxV = logits_BxV.astype(jnp.float32) / temperature
  if top_k is not None:
    kth_Bx1 = jax.lax.top_k(logits_BxV, top_k)[0][:, -1:]
    logits_BxV = jnp.where(logits_BxV < kth_Bx1, -jnp.inf, logits_BxV)
  if top_p is not None:
    order_BxV = jnp.argsort(-logits_BxV, axis=-1)
    probs_BxV = jax.nn.softmax(jnp.take_along_axis(logits_BxV, order_BxV, axis=-1), axis=-1)
    mass_before_BxV = jnp.cumsum(probs_BxV, axis=-1) - probs_BxV
    keep_sorted_BxV = mass_before_BxV < top_p
    rows_Bx1 = jnp.arange(logits_BxV.shape[0])[:, None]
    keep_BxV = jnp.zeros_like(keep_sorted_BxV).at[rows_Bx1, order_BxV].set(keep_sorted_BxV)
    logits_BxV = jnp.where(keep_BxV, logits_BxV, -jnp.inf)
  return logits_BxV


def pick_tokens(
  logits_BxV,
  key,
  greedy: bool,
  temperature: float = 1.0,
  top_k: int | None = None,
  top_p: float | None = None,
):
  if greedy:
    return jnp.argmax(logits_BxV, axis=-1).astype(jnp.int32)
  return jax.random.categorical(
    key, filter_logits(logits_BxV, temperature, top_k, top_p), axis=-1
  ).astype(jnp.int32)


class Generator:
  """Jitted prefill, one-token decode and cropped-window steps for one model config."""

  def __init__(self, cfg: ModelConfig):
    self.cfg = cfg
    model = GPT(cfg)

    def prefill(params, idx_BxT, cache):
      logits_BxTxV, cache = model.apply({"params": params}, idx_BxT, pos0=0, cache=cache)
      return logits_BxTxV[:, -1], cache

    def decode(params, tok_B, cache, pos):
      logits_Bx1xV, cache = model.apply({"params": params}, tok_B[:, None], pos0=pos, cache=cache)
      return logits_Bx1xV[:, 0], cache

    def window(params, idx_BxS, length):
      # Right padding can't change earlier positions of a causal model.
      return model.apply({"params": params}, idx_BxS)[:, length - 1]

    self._prefill = jax.jit(prefill)
    self._decode = jax.jit(decode, donate_argnums=2)
    self._window = jax.jit(window)
    self._pick = jax.jit(pick_tokens, static_argnames=("greedy", "top_k"))

  def generate(
    self,
    params,
    prompt_T,
    num_samples: int,
    max_new_tokens: int,
    key,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
  ) -> np.ndarray:
    """Returns num_samples x (len(prompt) + max_new_tokens) token ids."""
    S = self.cfg.block_size
    seq_NxL = np.tile(np.asarray(prompt_T, np.int32)[None], (num_samples, 1))
    pick = lambda logits, i: np.asarray(
      self._pick(
        logits,
        jax.random.fold_in(key, i),
        greedy,
        temperature,
        top_k,
        None if top_p is None else jnp.float32(top_p),
      )
    )
    cache, pos = None, 0
    if use_cache:
      ctx_NxT = seq_NxL[:, -S:]
      logits_NxV, cache = self._prefill(params, ctx_NxT, init_cache(self.cfg, num_samples))
      pos = ctx_NxT.shape[1]
    for i in range(max_new_tokens):
      if i > 0 or not use_cache:
        if use_cache and pos < S:
          logits_NxV, cache = self._decode(params, seq_NxL[:, -1], cache, pos)
          pos += 1
        else:
          ctx_NxT = seq_NxL[:, -S:]
          T = ctx_NxT.shape[1]
          padded_NxS = np.pad(ctx_NxT, ((0, 0), (0, S - T)))
          logits_NxV = self._window(params, padded_NxS, T)
      seq_NxL = np.concatenate([seq_NxL, pick(logits_NxV, i)[:, None]], axis=1)
    return seq_NxL


@functools.cache
def get_generator(cfg: ModelConfig) -> Generator:
  """One Generator (and its compiled functions) per model config."""
  return Generator(cfg)
