"""The GPT model: the parameter tree, logits equal to an independent NumPy forward pass (RoPE
base, RMSNorm, causal mask, both attention paths, bf16), causality, dropout in training and
evaluation, the dropout mask's 16-bit draws, RoPE, init, KV cache."""

import dataclasses
import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from hw2_jax.core import precision as precision_lib
from hw2_jax.gpt.config import ModelConfig
from hw2_jax.gpt.model import (
  GPT,
  Dropout,
  attention_path,
  dropout_keep,
  init_cache,
  init_params,
  rope,
)

CFG = ModelConfig(vocab_size=11, n_layer=2, n_head=2, n_embd=16, block_size=8, dropout=0.0)
PATHS = {"explicit": False, "fused": True}

# bf16 compute against the float64 reference, measured on this file's perturbed parameters
# (logits of size ~1): at most 0.011 (explicit) and 0.016 (fused, abs_emb) over 5 seeds and
# both position encodings, on the 2-core CPU. The tolerance is twice the worst: a lost mask or
# any other real change moves logits by 0.1 or more.
BF16_ATOL = 0.035


@functools.partial(jax.jit, static_argnums=0, static_argnames="mutable")
def _apply(cfg, params, idx, pos0=0, cache=None, mutable=False):
  return GPT(cfg).apply({"params": params}, idx, pos0=pos0, cache=cache, mutable=mutable)


def _tokens(key=0, B=3, T=8, V=11):
  return jax.random.randint(jax.random.key(key), (B, T), 0, V)


def _perturbed(params, key):
  """Initial biases are 0 and norm scales 1: perturb every parameter so that a forward pass
  that forgets one of them is seen."""
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(key), len(leaves))
  return jax.tree.unflatten(
    treedef, [p + 0.1 * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys)]
  )


def _reference(cfg, params, idx):
  """The model written out in float64 NumPy: (logits, attention probabilities per layer).

  Pre-norm blocks with RMSNorm (eps 1e-6, scale, no bias, no mean subtraction), rotary
  embeddings of base cfg.rope_base on q and k (or learned absolute positions), causal softmax
  attention scaled by 1/sqrt(head_dim), tanh-GELU MLP of width 4 n_embd, a final RMSNorm and
  a bias-free head.
  """
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  idx = np.asarray(idx)
  B, T = idx.shape
  H, K = cfg.n_head, cfg.n_embd // cfg.n_head

  def rms(x, params):  # RMSNorm (eps 1e-6), or LayerNorm (eps 1e-5, with a bias)
    if cfg.norm == "layernorm":
      x = x - x.mean(-1, keepdims=True)
      return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) * params["scale"] + params["bias"]
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * params["scale"]

  dense = lambda x, d: x @ d["kernel"] + d.get("bias", 0.0)

  def rotate(x_BTHK):
    theta = cfg.rope_base ** (-np.arange(0, K, 2) / K)
    angle = np.arange(T)[None, :, None, None] * theta
    x1, x2 = x_BTHK[..., : K // 2], x_BTHK[..., K // 2 :]
    return np.concatenate(
      [x1 * np.cos(angle) - x2 * np.sin(angle), x1 * np.sin(angle) + x2 * np.cos(angle)], -1
    )

  x = p["wte"]["embedding"][idx]
  if cfg.abs_emb:
    x = x + p["wpe"]["embedding"][:T][None]
  probs = []
  for i in range(cfg.n_layer):
    blk = p[f"h_{i}"]
    q, k, v = (
      a.reshape(B, T, H, K)
      for a in np.split(dense(rms(x, blk["ln_1"]), blk["attn"]["c_attn"]), 3, -1)
    )
    if not cfg.abs_emb:
      q, k = rotate(q), rotate(k)
    att = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(K)
    att = np.where(np.tril(np.ones((T, T), bool)), att, -np.inf)
    att = np.exp(att - att.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    probs.append(att)
    y = np.einsum("bhts,bshk->bthk", att, v).reshape(B, T, H * K)
    x = x + dense(y, blk["attn"]["c_proj"])
    u = dense(rms(x, blk["ln_2"]), blk["mlp"]["c_fc"])
    u = 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u**3)))
    x = x + dense(u, blk["mlp"]["c_proj"])
  return dense(rms(x, p["ln_f"]), p["lm_head"]), probs


def test_parameter_tree_pins_the_architecture():
  """Every layer's parameters by name and shape: RMSNorm (a scale, no bias) before attention,
  before the MLP and at the end (ln_f); fused q/k/v; a 4x MLP; a bias-free head; learned
  positions only with abs_emb. Float32 whatever the compute dtype."""
  D, V = CFG.n_embd, CFG.vocab_size
  block = {
    "ln_1": {"scale": (D,)},
    "ln_2": {"scale": (D,)},
    "attn": {
      "c_attn": {"kernel": (D, 3 * D), "bias": (3 * D,)},
      "c_proj": {"kernel": (D, D), "bias": (D,)},
    },
    "mlp": {
      "c_fc": {"kernel": (D, 4 * D), "bias": (4 * D,)},
      "c_proj": {"kernel": (4 * D, D), "bias": (D,)},
    },
  }
  want = {
    "wte": {"embedding": (V, D)},
    "h_0": block,
    "h_1": block,
    "ln_f": {"scale": (D,)},
    "lm_head": {"kernel": (D, V)},
  }
  params = init_params(CFG, jax.random.PRNGKey(0))
  assert jax.tree.map(jnp.shape, params) == want
  abs_params = init_params(
    dataclasses.replace(CFG, abs_emb=True, precision="bf16"), jax.random.PRNGKey(0)
  )
  assert jax.tree.map(jnp.shape, abs_params) == {**want, "wpe": {"embedding": (8, D)}}
  chex.assert_trees_all_equal_dtypes(abs_params, jax.tree.map(jnp.float32, abs_params))


def _dots(jaxpr):
  """Every dot_general of a jaxpr, nested jaxprs (jit, custom rules, scans) included."""
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      yield eqn
    for value in eqn.params.values():
      for sub in value if isinstance(value, (list, tuple)) else [value]:
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          yield from _dots(inner)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("path", PATHS)
def test_every_matmul_runs_at_the_configs_precision(path, precision, monkeypatch):
  """core/precision's one meaning: fp32 = full float32 (Precision.HIGHEST) for every matmul,
  dense layers and attention alike; bf16 = bfloat16 operands with float32 accumulation, as a
  GPU or TPU runs them (traced with the accelerator's path, nothing compiled); the logits are
  float32 either way. (jax.nn.dot_product_attention, the fused path, picks its own output
  dtype for its two matmuls; the dense layers' and the explicit attention's are float32.)"""
  monkeypatch.setattr(precision_lib, "_native_bf16", lambda: True)
  cfg = dataclasses.replace(CFG, fused_attention=PATHS[path], precision=precision, abs_emb=True)
  params = init_params(cfg, jax.random.PRNGKey(0))
  closed = jax.make_jaxpr(lambda p, i: GPT(cfg).apply({"params": p}, i))(params, _tokens())
  assert closed.out_avals[0].dtype == jnp.float32
  dots = list(_dots(closed.jaxpr))
  assert len(dots) >= cfg.n_layer * 6 + 1  # 4 dense and 2 attention matmuls a block, the head
  for eqn in dots:
    operands = {v.aval.dtype for v in eqn.invars}
    if precision == "fp32":
      assert operands == {jnp.dtype("float32")}, eqn
      assert eqn.params["precision"] == (jax.lax.Precision.HIGHEST,) * 2, eqn
    else:
      assert operands == {jnp.dtype("bfloat16")}, eqn
  if precision == "bf16":
    accumulated = [e for e in dots if e.params["preferred_element_type"] == jnp.float32]
    assert len(accumulated) >= cfg.n_layer * (4 if cfg.fused_attention else 6) + 1
    # and in training, each dense layer's input and weight gradients too (the cotangent rounded)
    loss = lambda p: GPT(cfg).apply({"params": p}, _tokens()).sum()
    backward = list(_dots(jax.make_jaxpr(jax.grad(loss))(params).jaxpr))
    bf16_only = [e for e in backward if {v.aval.dtype for v in e.invars} == {jnp.dtype("bfloat16")}]
    assert len(bf16_only) >= 3 * (4 * cfg.n_layer + 1)


def test_a_bf16_dense_layer_runs_its_three_gemms_on_bfloat16_operands():
  """precision.dense_dot_general("bf16"), the GPT's dense GEMM: the output, the input gradient
  and the weight gradient each equal a float64 product of the bfloat16-rounded operands (the
  cotangent rounded too, as in PyTorch's autocast), every dot_general of the VJP multiplies
  bfloat16 into float32, and anything but a dense layer's contraction is refused."""
  dot = precision_lib.dense_dot_general("bf16")
  dims = (((2,), (0,)), ((), ()))
  x, w, g = (jax.random.normal(jax.random.key(i), s) for i, s in enumerate([(3, 5, 64), (64, 24), (3, 5, 24)]))  # fmt: skip
  y, vjp = jax.vjp(lambda x, w: dot(x, w, dims), x, w)
  dx, dw = vjp(g)
  r = lambda a: np.asarray(a.astype(jnp.bfloat16).astype(jnp.float32), np.float64)
  assert y.dtype == dx.dtype == dw.dtype == jnp.float32
  np.testing.assert_allclose(y, r(x) @ r(w), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dx, r(g) @ r(w).T, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dw, np.einsum("btk,btn->kn", r(x), r(g)), rtol=1e-5, atol=1e-5)
  assert np.abs(dx - np.asarray(g, np.float64) @ r(w).T).max() > 1e-3  # the cotangent rounded
  grads = jax.make_jaxpr(lambda x, w: jax.grad(lambda x, w: dot(x, w, dims).sum(), (0, 1))(x, w))
  dots = list(_dots(grads(x, w).jaxpr))
  assert len(dots) == 3
  for eqn in dots:
    assert {v.aval.dtype for v in eqn.invars} == {jnp.dtype("bfloat16")}, eqn
    assert eqn.params["preferred_element_type"] == jnp.float32, eqn
  with pytest.raises(ValueError, match="not a dense layer's GEMM"):
    dot(x, w.T, (((2,), (1,)), ((), ())))
  assert precision_lib.dense_dot_general("fp32") is precision_lib.dot_general("fp32")


@pytest.mark.parametrize(
  "path,abs_emb,norm",
  [("explicit", False, "rmsnorm"), ("fused", False, "rmsnorm"), ("explicit", True, "layernorm")],
)
def test_logits_equal_an_independent_numpy_forward(path, abs_emb, norm):
  # A RoPE base other than the default: the model must use cfg.rope_base.
  cfg = dataclasses.replace(
    CFG, fused_attention=PATHS[path], abs_emb=abs_emb, rope_base=50.0, norm=norm
  )
  params = _perturbed(init_params(cfg, jax.random.PRNGKey(1)), 11)
  idx = _tokens(1)
  want, want_probs = _reference(cfg, params, idx)
  logits, inter = _apply(cfg, params, idx, mutable=("intermediates",))
  chex.assert_type(logits, jnp.float32)
  chex.assert_trees_all_close(logits, want, atol=2e-5, rtol=1e-4)
  if path == "explicit":  # the explicit path exposes its attention probabilities
    for i, probs in enumerate(want_probs):
      (got,) = inter["intermediates"][f"h_{i}"]["attn"]["attn_probs"]
      chex.assert_trees_all_close(got, probs, atol=1e-6)
  if not abs_emb:  # and the default base gives other logits
    other = _apply(dataclasses.replace(cfg, rope_base=10000.0), params, idx)
    assert np.abs(np.asarray(other) - want).max() > 1e-2


@pytest.mark.parametrize("path", PATHS)
def test_bf16_logits_equal_the_reference_within_the_measured_error(path):
  cfg = dataclasses.replace(CFG, fused_attention=PATHS[path], precision="bf16")
  params = _perturbed(init_params(cfg, jax.random.PRNGKey(2)), 12)
  idx = _tokens(2)
  want, _ = _reference(cfg, params, idx)
  logits = _apply(cfg, params, idx)
  chex.assert_type(logits, jnp.float32)
  chex.assert_trees_all_close(logits, want, atol=BF16_ATOL)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("path", PATHS)
def test_causality(path, precision):
  """Changing tokens after position t leaves the logits up to t exactly as they were."""
  cfg = dataclasses.replace(CFG, fused_attention=PATHS[path], precision=precision)
  params = _perturbed(init_params(cfg, jax.random.PRNGKey(3)), 13)
  idx = _tokens(3)
  for t in (0, 3, 6):
    changed = idx.at[:, t + 1 :].set((idx[:, t + 1 :] + 1) % 11)
    a, b = _apply(cfg, params, idx), _apply(cfg, params, changed)
    chex.assert_trees_all_close(a[:, : t + 1], b[:, : t + 1], atol=1e-6)
    assert np.abs(np.asarray(a[:, t + 1 :]) - np.asarray(b[:, t + 1 :])).max() > 1e-2


@functools.partial(jax.jit, static_argnums=(0, 3))
def _dropout_sites(cfg, params, idx, train, key):
  """Logits and, for every Dropout the forward pass calls, its (input, output)."""
  sites = {}

  def record(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if isinstance(context.module, Dropout) and context.method_name == "__call__":
      sites["/".join(context.module.scope.path)] = (args[0], out)
    return out

  with nn.intercept_methods(record):
    logits = GPT(cfg).apply({"params": params}, idx, train=train, rngs={"dropout": key})
  return logits, sites


@pytest.mark.parametrize("path", PATHS)
def test_dropout_is_active_in_training_and_off_in_evaluation(path):
  rate = 0.5
  cfg = dataclasses.replace(CFG, fused_attention=PATHS[path], dropout=rate)
  params = _perturbed(init_params(cfg, jax.random.PRNGKey(4)), 14)
  idx = _tokens(4)
  key = jax.random.PRNGKey(0)
  clean = _apply(dataclasses.replace(cfg, dropout=0.0), params, idx)

  logits, sites = _dropout_sites(cfg, params, idx, True, key)
  # On the embeddings and on both residual branches of every block (B x T x D) and on the
  # attention probabilities (B x H x T x S): the fused kernel has no dropout, so training with
  # dropout takes the explicit path whatever fused_attention says.
  residual = [s for s, (x, _) in sites.items() if x.ndim == 3]
  on_probs = [s for s, (x, _) in sites.items() if x.ndim == 4]
  assert len(residual) == 1 + 2 * cfg.n_layer, sites.keys()
  assert len(on_probs) == cfg.n_layer, sites.keys()
  for name, (x, y) in sites.items():
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-5, err_msg=name)
    dropped = (~kept & (x != 0)).sum() / max((x != 0).sum(), 1)
    assert 0.35 < dropped < 0.65, (name, dropped)
  assert np.abs(np.asarray(logits) - np.asarray(clean)).max() > 1e-2
  other, _ = _dropout_sites(cfg, params, idx, True, jax.random.PRNGKey(1))
  assert not np.allclose(other, logits)

  logits, sites = _dropout_sites(cfg, params, idx, False, key)
  for name, (x, y) in sites.items():
    chex.assert_trees_all_equal(y, x, custom_message=name)
  chex.assert_trees_all_close(logits, clean, atol=1e-6)


def _reference_draws(key, shape):
  """The 16-bit draws dropout_keep should make, from JAX's own random bits: for a threefry key
  the four 16-bit quarters of its 64-bit words (x64 on; shape (..., ceil(L/4))), low and high
  half of their high words, then of their low words, along the last axis; for another PRNG the
  two halves of its 32-bit words (..., ceil(L/2))."""
  *lead, L = shape
  if str(jax.random.key_impl(key)) == "threefry2x32":
    with jax.enable_x64(True):
      w = np.asarray(jax.random.bits(key, (*lead, -(-L // 4)), jnp.uint64))
    words = [w >> 32, w & 0xFFFFFFFF]
  else:
    words = [np.asarray(jax.random.bits(key, (*lead, -(-L // 2)), jnp.uint32)).astype(np.int64)]
  return np.concatenate([h for w in words for h in (w & 0xFFFF, w >> 16)], -1)[..., :L]


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
@pytest.mark.parametrize("shape", [(4, 6, 8), (3, 5), (9,)])  # L a multiple of 4 or not
def test_dropout_keep_takes_16_bit_draws_from_every_random_bit(shape, impl):
  key = jax.random.key(7, impl=impl)
  draws = _reference_draws(key, shape)
  assert len(np.unique(draws)) > 0.9 * draws.size  # distinct draws: no half used twice
  for t in (round(0.3 * 65536), int(draws.flat[draws.size // 2])):  # a draw equal to t is kept
    mask, keep = jax.jit(dropout_keep, static_argnums=(1, 2))(key, t / 65536, shape)
    np.testing.assert_array_equal(np.asarray(mask), draws >= t)
    assert keep == 1 - t / 65536
    assert mask.shape == shape and mask.dtype == jnp.bool_


def test_dropout_rate_and_mean_at_the_assignments_rate():
  """At rate 0.1 over 2^20 elements the dropped fraction is within 5 standard deviations of
  round(0.1 * 2^16) / 2^16, masks of different keys differ, and kept inputs are scaled so that
  the output's mean is the input's; at rate 1 the output and its gradient are 0, not NaN."""
  n, rate = 2**20, 0.1
  x = jnp.ones((n,), jnp.float32)
  drop = jax.jit(lambda x, key: Dropout(rate).apply({}, x, deterministic=False, rng=key))
  y = np.asarray(drop(x, jax.random.key(0)))
  p = round(rate * 65536) / 65536
  assert abs((y == 0).mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
  np.testing.assert_array_equal(np.unique(y), np.float32([0, 1 / (1 - p)]))
  assert abs(y.mean() - 1) < 5 * math.sqrt(p / (1 - p) / n)
  other = np.asarray(drop(x, jax.random.key(1)))
  assert 0.15 < (other != y).mean() < 0.21  # about 2 p (1 - p) = 0.18 for independent masks
  chex.assert_trees_all_equal(Dropout(rate).apply({}, x, deterministic=True), x)
  drop_all = lambda x: Dropout(1.0).apply({}, x, deterministic=False, rng=jax.random.key(0))
  chex.assert_trees_all_equal(jax.value_and_grad(lambda x: drop_all(x).sum())(x[:8]),
                              (jnp.float32(0), jnp.zeros(8)))  # fmt: skip


def test_rope_matches_complex_rotation_and_is_relative():
  K = 8
  x = jax.random.normal(jax.random.key(3), (2, 5, 3, K))
  pos = jnp.array([0, 1, 2, 7, 40])
  y = jax.jit(rope)(x, pos)
  chex.assert_trees_all_close(jnp.linalg.norm(y, axis=-1), jnp.linalg.norm(x, axis=-1), rtol=1e-5)
  # independent reference: pairs (x_i, x_{i+K/2}) as complex numbers times e^{i pos theta_i}
  xn = np.asarray(x, np.float64)
  theta = 1.0 / 10000 ** (np.arange(0, K, 2) / K)
  z = (xn[..., : K // 2] + 1j * xn[..., K // 2 :]) * np.exp(
    1j * np.asarray(pos)[None, :, None, None] * theta
  )
  chex.assert_trees_all_close(
    np.asarray(y, np.float64), np.concatenate([z.real, z.imag], -1), atol=1e-5
  )
  q, k = jax.random.normal(jax.random.key(4), (2, 1, 1, 1, K))
  qk = jax.jit(lambda m, n: jnp.sum(rope(q, m[None]) * rope(k, n[None])))
  dot = lambda m, n: float(qk(jnp.int32(m), jnp.int32(n)))
  for m, n in ((5, 2), (9, 9), (3, 11)):
    for shift in (1, 17, 100):
      assert math.isclose(dot(m, n), dot(m + shift, n + shift), rel_tol=1e-4, abs_tol=1e-5)
  assert not math.isclose(dot(5, 2), dot(5, 3), rel_tol=1e-3)


def test_init_statistics():
  cfg = ModelConfig(vocab_size=64, n_layer=4, n_head=4, n_embd=128, abs_emb=True)
  params = init_params(cfg, jax.random.PRNGKey(6))
  assert "wpe" in params  # the learned positions are initialised like the token embedding
  flat = {
    "/".join(k.key for k in path): np.asarray(v)
    for path, v in jax.tree_util.tree_flatten_with_path(params)[0]
  }
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
    logits, cache = _apply(cfg, params, idx[:, t : t + 1], t, cache)
    chex.assert_trees_all_close(logits[:, 0], full[:, t], atol=1e-5)


def test_training_dropout_is_applied_on_the_fused_path_too():
  """The fused kernel has no dropout: training with dropout takes the explicit path, so the
  fused model trains with the same masks (attention probabilities included) as the explicit
  one, and evaluates deterministically."""
  explicit = dataclasses.replace(CFG, dropout=0.3)
  fused = dataclasses.replace(explicit, fused_attention=True)
  params = init_params(explicit, jax.random.key(8))
  idx = _tokens(8)
  run = lambda cfg, key, train: GPT(cfg).apply(
    {"params": params}, idx, train=train, rngs={"dropout": jax.random.key(key)}
  )
  a, b = run(fused, 0, True), run(fused, 1, True)
  assert not np.allclose(a, b)  # dropout is active
  chex.assert_trees_all_equal(a, run(explicit, 0, True))
  chex.assert_trees_all_close(run(fused, 0, False), run(fused, 1, False), atol=0)
  chex.assert_trees_all_close(run(fused, 0, False), run(explicit, 0, False), atol=1e-5)


def test_bf16_keeps_the_residual_stream_and_every_layers_output_float32():
  """As PyTorch's bf16-mixed: embeddings, the residual stream, the norms, the dense layers'
  outputs (accumulated in float32) and the logits are float32."""
  cfg = dataclasses.replace(CFG, precision="bf16")
  params = init_params(cfg, jax.random.key(9))
  _, state = GPT(cfg).apply(
    {"params": params}, _tokens(9), capture_intermediates=True, mutable=["intermediates"]
  )
  dtypes = {x.dtype for x in jax.tree.leaves(state["intermediates"])}
  assert dtypes == {jnp.dtype("float32")}, dtypes


def test_mlp_is_tanh_gelu_between_its_two_layers():
  """At pre-activations of a few units, where exact and tanh GELU differ by ~1e-3."""
  from hw2_jax.gpt.model import MLP

  cfg = dataclasses.replace(CFG, dropout=0.0)
  x = 2.0 * jax.random.normal(jax.random.key(7), (2, 3, cfg.n_embd))
  params = MLP(cfg).init(jax.random.key(8), x, False)["params"]
  params = jax.tree.map(lambda a: a * 25.0, params)  # kernels of std ~0.5: pre-activations ~2
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  u = np.asarray(x, np.float64) @ p["c_fc"]["kernel"] + p["c_fc"]["bias"]
  assert np.abs(u).max() > 2
  u = 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u**3)))
  want = u @ p["c_proj"]["kernel"] + p["c_proj"]["bias"]
  chex.assert_trees_all_close(MLP(cfg).apply({"params": params}, x, False), want, atol=1e-4)


@pytest.mark.parametrize(
  "dropout,train,explicit",
  [
    (0.1, False, False),  # evaluation: the fused kernel, dropout or not
    (0.0, True, False),  # training without dropout: the fused kernel
    (0.1, True, True),  # training with dropout: the explicit path (the kernel has none)
  ],
)
def test_fused_attention_is_left_only_to_apply_dropout(dropout, train, explicit):
  """With fused_attention the explicit path (the one that records attention probabilities)
  runs only when training with dropout, and attention_path (which gpt-train's banner and the
  benchmarks report) names the path that runs."""
  cfg = dataclasses.replace(CFG, fused_attention=True, dropout=dropout)
  params = init_params(cfg, jax.random.key(9))
  _, inter = jax.eval_shape(
    lambda p: GPT(cfg).apply(
      {"params": p},
      _tokens(),
      train=train,
      rngs={"dropout": jax.random.key(0)},
      mutable=("intermediates",),
    ),
    params,
  )
  assert ("intermediates" in inter and "h_0" in inter["intermediates"]) == explicit
  assert attention_path(cfg, train) == ("explicit" if explicit else "fused")
