"""The GPT model: shapes, causality, attention, RoPE, fused == explicit, init, KV cache."""

import dataclasses
import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.gpt.config import ModelConfig
from hw2_jax.gpt.model import GPT, init_cache, init_params, rope

CFG = ModelConfig(vocab_size=11, n_layer=2, n_head=2, n_embd=16, block_size=8, dropout=0.0)


@functools.partial(jax.jit, static_argnums=0, static_argnames="mutable")
def _apply(cfg, params, idx, pos0=0, cache=None, mutable=False):
  return GPT(cfg).apply({"params": params}, idx, pos0=pos0, cache=cache, mutable=mutable)


def _tokens(key=0, B=3, T=8, V=11):
  return jax.random.randint(jax.random.key(key), (B, T), 0, V)


def test_shapes_and_dtypes():
  cfg = dataclasses.replace(CFG, abs_emb=True)
  params = init_params(cfg, jax.random.key(0))
  logits = _apply(cfg, params, _tokens(T=5))
  chex.assert_shape(logits, (3, 5, 11))
  chex.assert_type(logits, jnp.float32)
  assert params["wpe"]["embedding"].shape == (8, 16)
  assert "wpe" not in init_params(CFG, jax.random.key(0))
  bf16 = dataclasses.replace(cfg, dtype="bfloat16")
  params16 = init_params(bf16, jax.random.key(0))
  chex.assert_trees_all_equal_dtypes(params16, params)  # float32 parameters either way
  logits16 = _apply(bf16, params16, _tokens(T=5))
  chex.assert_type(logits16, jnp.float32)
  chex.assert_trees_all_close(logits16, logits, atol=5e-2)


@pytest.mark.parametrize("fused,abs_emb", [(False, False), (True, True)])
def test_causality(fused, abs_emb):
  cfg = dataclasses.replace(CFG, fused_attention=fused, abs_emb=abs_emb)
  model = GPT(cfg)
  params = init_params(cfg, jax.random.key(1))
  idx = _tokens(1)
  t = 3
  changed = idx.at[:, t + 1:].set((idx[:, t + 1:] + 1) % 11)
  a = _apply(cfg, params, idx)
  b = _apply(cfg, params, changed)
  chex.assert_trees_all_close(a[:, :t + 1], b[:, :t + 1], atol=1e-6)
  assert not np.allclose(a[:, t + 1:], b[:, t + 1:])
  # and the gradient of the logit at t w.r.t. later embeddings is zero
  emb = params["wte"]["embedding"][idx]
  g = jax.jit(jax.grad(lambda e: _from_embeddings(model, params, e)[:, t].sum()))(emb)
  chex.assert_trees_all_close(g[:, t + 1:], jnp.zeros_like(g[:, t + 1:]))
  assert np.abs(g[:, :t + 1]).sum() > 0


def _from_embeddings(model, params, emb):
  # Runs the model with the token embedding lookup replaced by `emb`.
  def embed_hook(next_fun, args, kwargs, context):
    if context.module.name == "wte" and context.method_name == "__call__":
      return emb
    return next_fun(*args, **kwargs)
  import flax.linen as nn
  with nn.intercept_methods(embed_hook):
    return model.apply({"params": params}, jnp.zeros(emb.shape[:2], jnp.int32))


def test_attention_probabilities_are_causal_distributions():
  params = init_params(CFG, jax.random.key(2))
  _, inter = _apply(CFG, params, _tokens(2), mutable=("intermediates",))
  for i in range(CFG.n_layer):
    (probs,) = inter["intermediates"][f"h_{i}"]["attn"]["attn_probs"]
    chex.assert_shape(probs, (3, 2, 8, 8))
    chex.assert_trees_all_close(probs.sum(-1), jnp.ones((3, 2, 8)), atol=1e-6)
    assert np.all(np.asarray(probs)[..., np.triu_indices(8, k=1)[0], np.triu_indices(8, k=1)[1]] == 0)
    assert np.all(np.diagonal(np.asarray(probs), axis1=-2, axis2=-1) > 0)


def test_rope_matches_complex_rotation_and_is_relative():
  K = 8
  x = jax.random.normal(jax.random.key(3), (2, 5, 3, K))
  pos = jnp.array([0, 1, 2, 7, 40])
  y = jax.jit(rope)(x, pos)
  chex.assert_trees_all_close(jnp.linalg.norm(y, axis=-1), jnp.linalg.norm(x, axis=-1),
                              rtol=1e-5)
  # independent reference: pairs (x_i, x_{i+K/2}) as complex numbers times e^{i pos theta_i}
  xn = np.asarray(x, np.float64)
  theta = 1.0 / 10000 ** (np.arange(0, K, 2) / K)
  z = (xn[..., :K // 2] + 1j * xn[..., K // 2:]) * np.exp(
      1j * np.asarray(pos)[None, :, None, None] * theta)
  chex.assert_trees_all_close(np.asarray(y, np.float64),
                              np.concatenate([z.real, z.imag], -1), atol=1e-5)
  q, k = jax.random.normal(jax.random.key(4), (2, 1, 1, 1, K))
  qk = jax.jit(lambda m, n: jnp.sum(rope(q, m[None]) * rope(k, n[None])))
  dot = lambda m, n: float(qk(jnp.int32(m), jnp.int32(n)))
  for m, n in ((5, 2), (9, 9), (3, 11)):
    for shift in (1, 17, 100):
      assert math.isclose(dot(m, n), dot(m + shift, n + shift), rel_tol=1e-4, abs_tol=1e-5)
  assert not math.isclose(dot(5, 2), dot(5, 3), rel_tol=1e-3)


def test_fused_equals_explicit_attention():
  params = init_params(CFG, jax.random.key(5))
  idx = _tokens(5)
  explicit = _apply(CFG, params, idx)
  fused = _apply(dataclasses.replace(CFG, fused_attention=True), params, idx)
  chex.assert_trees_all_close(fused, explicit, atol=1e-5)


def test_init_statistics():
  cfg = ModelConfig(vocab_size=64, n_layer=4, n_head=4, n_embd=128)
  params = init_params(cfg, jax.random.key(6))
  flat = {"/".join(k.key for k in path): np.asarray(v)
          for path, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  proj_std = 0.02 / math.sqrt(2 * cfg.n_layer)
  for name, v in flat.items():
    if name.endswith("bias"):
      assert np.all(v == 0), name
    elif name.endswith("scale"):
      assert np.all(v == 1), name
    else:
      want = proj_std if name.endswith("c_proj/kernel") else 0.02
      assert abs(v.mean()) < 3 * want / math.sqrt(v.size) + 1e-6, name
      assert abs(v.std() / want - 1) < 0.05, (name, v.std(), want)
  assert {n.split("/")[-1] for n in flat} == {"bias", "scale", "kernel", "embedding"}
  assert "bias" not in params["lm_head"]


@pytest.mark.parametrize("fused,abs_emb", [(False, False), (True, True)])
def test_kv_cache_matches_full_forward(fused, abs_emb):
  cfg = dataclasses.replace(CFG, fused_attention=fused, abs_emb=abs_emb)
  params = init_params(cfg, jax.random.key(7))
  idx = _tokens(7)
  full = _apply(cfg, params, idx)
  logits, cache = _apply(cfg, params, idx[:, :3], 0, init_cache(cfg, 3))
  chex.assert_trees_all_close(logits, full[:, :3], atol=1e-5)
  for t in range(3, 8):
    logits, cache = _apply(cfg, params, idx[:, t:t + 1], t, cache)
    chex.assert_trees_all_close(logits[:, 0], full[:, t], atol=1e-5)


def test_training_dropout_is_applied_on_the_fused_path_too():
  """The fused kernel has no dropout: training with dropout takes the explicit path, so the
  fused model trains with the same masks (attention probabilities included) as the explicit
  one, and evaluates deterministically."""
  explicit = dataclasses.replace(CFG, dropout=0.3)
  fused = dataclasses.replace(explicit, fused_attention=True)
  params = init_params(explicit, jax.random.key(8))
  idx = _tokens(8)
  run = lambda cfg, key, train: GPT(cfg).apply({"params": params}, idx, train=train,
                                               rngs={"dropout": jax.random.key(key)})
  a, b = run(fused, 0, True), run(fused, 1, True)
  assert not np.allclose(a, b)  # dropout is active
  chex.assert_trees_all_equal(a, run(explicit, 0, True))
  chex.assert_trees_all_close(run(fused, 0, False), run(fused, 1, False), atol=0)
  chex.assert_trees_all_close(run(fused, 0, False), run(explicit, 0, False), atol=1e-5)


def test_bf16_casts_only_the_matmul_operands():
  """As PyTorch's bf16-mixed: Dense outputs are bfloat16; embeddings, the residual stream,
  RMSNorm and the logits stay float32."""
  cfg = dataclasses.replace(CFG, dtype="bfloat16")
  params = init_params(cfg, jax.random.key(9))
  _, state = GPT(cfg).apply({"params": params}, _tokens(9), capture_intermediates=True,
                            mutable=["intermediates"])
  inter = state["intermediates"]
  dtype = lambda tree: jax.tree.leaves(tree["__call__"])[0].dtype
  assert dtype(inter["wte"]) == jnp.float32
  for i in range(cfg.n_layer):
    block = inter[f"h_{i}"]
    assert dtype(block) == jnp.float32, f"residual stream of block {i}"
    assert dtype(block["ln_1"]) == dtype(block["ln_2"]) == jnp.float32
    assert dtype(block["attn"]["c_attn"]) == dtype(block["mlp"]["c_fc"]) == jnp.bfloat16
  assert dtype(inter["ln_f"]) == jnp.float32 and dtype(inter) == jnp.float32
