"""The GPT: a pre-norm decoder-only transformer with rotary position embeddings.

Read top to bottom: rotary embeddings, dropout, attention (explicit or fused), MLP, block,
model. Passing a key/value `cache` (see `init_cache`) makes the model write the new
keys and values at positions pos0.. and attend to everything cached before them, so
decoding costs one position per new token.

Precision as everywhere in the project (core/precision.py): `cfg.precision` is that of every
matmul, `fp32` (full float32 on every backend) or `bf16` (bfloat16 operands, float32
accumulation, PyTorch's bf16-mixed; the dense layers' gradient GEMMs take the bfloat16-rounded
gradient and run natively on a CPU too: precision.dense_dot_general); parameters, the residual
stream, the norms, softmax and the logits stay float32. Dropout applies on every path: the
fused kernel has no dropout argument, so training with dropout > 0 takes the explicit path.

Dimension letters: B batch, T query positions, S key positions, D width, H heads,
K head size, V vocabulary.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import linen as nn
from jax.extend.random import threefry2x32_p

from hw2_jax.core import precision as precision_lib
from hw2_jax.gpt.config import ModelConfig

init_normal = nn.initializers.normal


def rope(x_BxTxHxK, pos_T, base: float = 10000.0):
  """Rotates pairs (x_i, x_{i+K/2}) by pos * base^(-2i/K); q.k then depends on pos_q - pos_k."""
  K = x_BxTxHxK.shape[-1]
  inv_freq_K2 = 1.0 / base ** (jnp.arange(0, K, 2, dtype=jnp.float32) / K)
  angle_TxK2 = pos_T.astype(jnp.float32)[:, None] * inv_freq_K2[None, :]
  cos_1xTx1xK2 = jnp.cos(angle_TxK2)[None, :, None, :]
  sin_1xTx1xK2 = jnp.sin(angle_TxK2)[None, :, None, :]
  x1, x2 = jnp.split(x_BxTxHxK.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate(
    [x1 * cos_1xTx1xK2 - x2 * sin_1xTx1xK2, x1 * sin_1xTx1xK2 + x2 * cos_1xTx1xK2], axis=-1
  )
  return out.astype(x_BxTxHxK.dtype)


DROPOUT_BITS = 16  # bits of one dropout draw


def _threefry_words(key, shape):
  """Two random 32-bit words per element of `shape`: both outputs of threefry2x32 at counter
  (0, the element's flat index), i.e. the high and low halves of jax.random.bits(key, shape,
  uint64); jax.random.bits' 32-bit draws spend a threefry call per word (they XOR the two).
  The counters follow positions, so each shard of a sharded shape draws only its own part."""
  assert math.prod(shape) < 2**32, shape
  index = jnp.arange(math.prod(shape), dtype=jnp.uint32).reshape(shape)
  k1, k2 = jax.random.key_data(key)
  return threefry2x32_p.bind(k1, k2, jnp.zeros(shape, jnp.uint32), index)


def dropout_keep(key, rate: float, shape):
  """(keep mask of `shape`, its keep probability): dropout's decisions from 16-bit draws.

  A row of L elements along the last axis takes its draws from ceil(L / 4) pairs of threefry
  words (`_threefry_words`): the low halves of the first words, their high halves, then the
  same of the second words (a key of another PRNG: the low, then high halves of ceil(L / 2)
  words of jax.random.bits). An element
  is kept when its draw u >= t = round(rate * 2^16): the rate is the nearest multiple of 2^-16
  (0.1 becomes 0.100006). jax.random.bernoulli, flax's, spends a threefry call per element:
  drawing the masks was two thirds of dropout's cost in a gpt-micro step on a CPU, and this
  draws four per call (docs/performance.md).
  """
  *lead, L = shape or (1,)
  if str(jax.random.key_impl(key)) == "threefry2x32":
    words = _threefry_words(key, (*lead, -(-L // 4)))
  else:
    words = [jax.random.bits(key, (*lead, -(-L // 2)), jnp.uint32)]
  halves = [h for w in words for h in (w & 0xFFFF, w >> 16)]
  draws = jnp.concatenate(halves, axis=-1)[..., :L].reshape(shape)
  drop_t = round(rate * 2**DROPOUT_BITS)
  return draws >= drop_t, 1.0 - drop_t / 2**DROPOUT_BITS


class Dropout(nn.Dropout):
  """flax's Dropout (same fields and call) drawing its mask with `dropout_keep`; kept inputs
  are scaled by 1 / keep probability, so the output's mean is the input's."""

  @nn.compact
  def __call__(self, inputs, deterministic: bool | None = None, rng=None):
    deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
    if self.rate == 0.0 or deterministic:
      return inputs
    if self.rate == 1.0:  # as flax's: no 0 / 0 in the gradient
      return jnp.zeros_like(inputs)
    assert not self.broadcast_dims, "Dropout draws one mask element per input element"
    if rng is None:
      rng = self.make_rng(self.rng_collection)
    keep_mask, keep = dropout_keep(rng, self.rate, inputs.shape)
    return jnp.where(keep_mask, inputs / jnp.asarray(keep, inputs.dtype), 0).astype(inputs.dtype)


def init_cache(cfg: ModelConfig, batch_size: int):
  """Empty key/value cache: per layer, keys and values for block_size positions."""
  shape = (batch_size, cfg.block_size, cfg.n_head, cfg.head_dim)
  dtype = jnp.bfloat16 if cfg.precision == "bf16" else jnp.float32
  zeros = lambda: jnp.zeros(shape, dtype)
  return [{"k": zeros(), "v": zeros()} for _ in range(cfg.n_layer)]


def _dense(cfg: ModelConfig, features: int, std: float, name: str, use_bias: bool = True):
  """A Dense layer whose GEMM runs at `cfg.precision` (float32 parameters and output)."""
  return nn.Dense(
    features, use_bias=use_bias, kernel_init=init_normal(std), name=name,
    dot_general=precision_lib.dense_dot_general(cfg.precision),
  )  # fmt: skip


def _fused_attention(cfg: ModelConfig, q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, cache, mask_TxS):
  """jax.nn.dot_product_attention, XLA's or cuDNN's (flash attention) as the backend chooses:
  bf16 gives it bfloat16 operands; fp32 asks XLA for full float32 matmuls."""
  kwargs = dict(
    mask=None if cache is None else mask_TxS[None, None], is_causal=cache is None,
    implementation=None,
  )  # fmt: skip
  if cfg.precision == "bf16":
    q, k, v = (a.astype(jnp.bfloat16) for a in (q_BxTxHxK, k_BxSxHxK, v_BxSxHxK))
    return jax.nn.dot_product_attention(q, k, v, **kwargs).astype(jnp.float32)
  with jax.default_matmul_precision("highest"):
    return jax.nn.dot_product_attention(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, **kwargs)


def attention_path(cfg: ModelConfig, train: bool) -> str:
  """The attention that runs, fused or explicit: training with dropout takes the explicit path
  (it applies the attention dropout, which the fused kernel has not)."""
  return "fused" if cfg.fused_attention and not (train and cfg.dropout > 0) else "explicit"


class CausalSelfAttention(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BxTxD, pos_T, train: bool, cache=None):
    c = self.cfg
    B, T, D = x_BxTxD.shape
    dense = lambda n, std, name: _dense(c, n, std, name)
    qkv_BxTx3D = dense(3 * D, 0.02, "c_attn")(x_BxTxD)
    q_BxTxHxK, k_BxTxHxK, v_BxTxHxK = (
      a.reshape(B, T, c.n_head, c.head_dim) for a in jnp.split(qkv_BxTx3D, 3, axis=-1)
    )
    if not c.abs_emb:
      q_BxTxHxK = rope(q_BxTxHxK, pos_T, c.rope_base)
      k_BxTxHxK = rope(k_BxTxHxK, pos_T, c.rope_base)

    if cache is None:  # keys are the T inputs themselves: plain causal mask
      k_BxSxHxK, v_BxSxHxK, new_cache = k_BxTxHxK, v_BxTxHxK, None
      mask_TxS = jnp.tril(jnp.ones((T, T), bool))
    else:  # write at pos_T[0].., attend to every key at or before each query position
      start = (0, pos_T[0], 0, 0)
      k_BxSxHxK = jax.lax.dynamic_update_slice(
        cache["k"], k_BxTxHxK.astype(cache["k"].dtype), start
      )
      v_BxSxHxK = jax.lax.dynamic_update_slice(
        cache["v"], v_BxTxHxK.astype(cache["v"].dtype), start
      )
      new_cache = {"k": k_BxSxHxK, "v": v_BxSxHxK}
      mask_TxS = jnp.arange(k_BxSxHxK.shape[1])[None, :] <= pos_T[:, None]

    if attention_path(c, train) == "fused":
      y_BxTxHxK = _fused_attention(c, q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, cache, mask_TxS)
    else:
      # Heads before positions: XLA:CPU's batched GEMMs are faster with the batch axes first
      # than through einsum's own transposes (gpt-micro step 0.93x in one process,
      # docs/performance.md).
      q_BxHxTxK, k_BxHxSxK, v_BxHxSxK = (
        jnp.swapaxes(a, 1, 2) for a in (q_BxTxHxK, k_BxSxHxK, v_BxSxHxK)
      )
      scores_BxHxTxS = precision_lib.einsum("bhtk,bhsk->bhts", q_BxHxTxK, k_BxHxSxK, c.precision)
      att_BxHxTxS = scores_BxHxTxS / math.sqrt(c.head_dim)
      att_BxHxTxS = jnp.where(mask_TxS[None, None], att_BxHxTxS, -jnp.inf)
      probs_BxHxTxS = jax.nn.softmax(att_BxHxTxS, axis=-1)
      self.sow("intermediates", "attn_probs", probs_BxHxTxS)
      probs_BxHxTxS = Dropout(c.dropout)(probs_BxHxTxS, deterministic=not train)
      y_BxHxTxK = precision_lib.einsum("bhts,bhsk->bhtk", probs_BxHxTxS, v_BxHxSxK, c.precision)
      y_BxTxHxK = jnp.swapaxes(y_BxHxTxK, 1, 2)

    y_BxTxD = dense(D, 0.02 / math.sqrt(2 * c.n_layer), "c_proj")(y_BxTxHxK.reshape(B, T, D))
    return Dropout(c.dropout)(y_BxTxD, deterministic=not train), new_cache


class MLP(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BxTxD, train: bool):
    c = self.cfg
    h_BxTx4D = _dense(c, 4 * c.n_embd, 0.02, "c_fc")(x_BxTxD)
    h_BxTx4D = nn.gelu(h_BxTx4D, approximate=True)
    y_BxTxD = _dense(c, c.n_embd, 0.02 / math.sqrt(2 * c.n_layer), "c_proj")(h_BxTx4D)
    return Dropout(c.dropout)(y_BxTxD, deterministic=not train)


def norm(cfg: ModelConfig, name: str) -> nn.Module:
  """RMSNorm (default) or LayerNorm, in float32 whatever the matmul precision."""
  if cfg.norm == "layernorm":
    return nn.LayerNorm(epsilon=1e-5, dtype=jnp.float32, name=name)
  return nn.RMSNorm(epsilon=1e-6, dtype=jnp.float32, name=name)


class Block(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BxTxD, pos_T, train: bool, cache=None):
    y_BxTxD, new_cache = CausalSelfAttention(self.cfg, name="attn")(
      norm(self.cfg, "ln_1")(x_BxTxD), pos_T, train, cache
    )
    x_BxTxD = x_BxTxD + y_BxTxD
    x_BxTxD = x_BxTxD + MLP(self.cfg, name="mlp")(norm(self.cfg, "ln_2")(x_BxTxD), train)
    return x_BxTxD, new_cache


class GPT(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, idx_BxT, train: bool = False, pos0=0, cache=None):
    """Logits (float32) for every position; with a cache, returns (logits, new cache)."""
    c = self.cfg
    T = idx_BxT.shape[1]
    pos_T = pos0 + jnp.arange(T)
    x_BxTxD = nn.Embed(c.vocab_size, c.n_embd, embedding_init=init_normal(0.02), name="wte")(
      idx_BxT
    )
    if c.abs_emb:
      x_BxTxD = (
        x_BxTxD
        + nn.Embed(c.block_size, c.n_embd, embedding_init=init_normal(0.02), name="wpe")(pos_T)[
          None
        ]
      )
    x_BxTxD = Dropout(c.dropout)(x_BxTxD, deterministic=not train)
    new_cache = []
    for i in range(c.n_layer):
      x_BxTxD, layer_cache = Block(c, name=f"h_{i}")(
        x_BxTxD, pos_T, train, None if cache is None else cache[i]
      )
      new_cache.append(layer_cache)
    x_BxTxD = norm(c, "ln_f")(x_BxTxD)
    logits_BxTxV = _dense(c, c.vocab_size, 0.02, "lm_head", use_bias=False)(x_BxTxD)
    return logits_BxTxV if cache is None else (logits_BxTxV, new_cache)


def init_params(cfg: ModelConfig, key):
  # Parameters don't depend on dropout, precision or the attention path: one compile for all.
  return _init(dataclasses.replace(cfg, dropout=0.0, precision="fp32", fused_attention=False), key)


@functools.partial(jax.jit, static_argnums=0)
def _init(cfg: ModelConfig, key):
  return GPT(cfg).init(key, jnp.zeros((1, cfg.block_size), jnp.int32))["params"]


def num_params(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
