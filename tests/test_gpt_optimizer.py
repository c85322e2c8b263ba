"""AdamW: weight decay masks exactly the linear weights; every setting equals AdamW written out
after global-norm clipping; clipping bounds the update of a large gradient."""

import dataclasses
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hw2_jax.gpt.config import ModelConfig
from hw2_jax.gpt.model import init_params
from hw2_jax.gpt.optimizer import decay_mask, learning_rate_schedule, make_optimizer

CFG = ModelConfig(vocab_size=11, n_layer=2, n_head=2, n_embd=16, block_size=8, abs_emb=True)


def _names(tree):
  return {
    "/".join(k.key for k in path): v for path, v in jax.tree_util.tree_flatten_with_path(tree)[0]
  }


def test_mask_covers_exactly_the_linear_weights():
  params = init_params(CFG, jax.random.key(0))
  mask = _names(decay_mask(params))
  decayed = {n for n, m in mask.items() if m}
  linear = {
    f"h_{i}/{m}/kernel"
    for i in range(2)
    for m in ("attn/c_attn", "attn/c_proj", "mlp/c_fc", "mlp/c_proj")
  } | {"lm_head/kernel"}
  assert decayed == linear
  assert {n.split("/")[-1] for n in set(mask) - decayed} == {"bias", "scale", "embedding"}
  assert "wpe/embedding" in mask and "wte/embedding" in mask


def test_decay_applies_only_to_masked_weights():
  params = init_params(CFG, jax.random.key(0))
  params = jax.tree.map(lambda p: jnp.ones_like(p), params)
  tx = make_optimizer(learning_rate=0.1, weight_decay=0.5)
  zero = jax.tree.map(jnp.zeros_like, params)
  updates, _ = jax.jit(tx.update)(zero, jax.jit(tx.init)(params), params)
  for name, u in _names(updates).items():
    want = -0.1 * 0.5 if name.endswith("kernel") else 0.0  # zero gradient: decay only
    chex.assert_trees_all_close(u, jnp.full_like(u, want), atol=1e-7)


def _adamw_reference(params, grads_seq, lr, wd, b1, b2, clip, eps=1e-8):
  """AdamW after global-norm clipping, written out in float64: decay on "kernel" leaves only."""
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  out = []
  for t, grads in enumerate(grads_seq, start=1):
    g = {k: np.asarray(x, np.float64) for k, x in grads.items()}
    norm = np.sqrt(sum((x**2).sum() for x in g.values()))
    if norm > clip:
      g = {k: x * clip / norm for k, x in g.items()}
    for k in p:
      m[k] = b1 * m[k] + (1 - b1) * g[k]
      v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
      update = (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
      if k.endswith("kernel"):
        update = update + wd * p[k]
      p[k] = p[k] - lr * update
    out.append({k: x.copy() for k, x in p.items()})
  return out


@pytest.mark.parametrize(
  "settings",
  [
    dict(lr=0.05, wd=0.3, b1=0.7, b2=0.8, clip=1.5),
    dict(lr=0.01, wd=0.1),  # the defaults: beta1 0.9, beta2 0.95, clipping at norm 1
  ],
)
def test_optimizer_equals_clipped_adamw_written_out(settings):
  """Every setting reaches optax: learning rate, weight decay (masked), beta1, beta2 and the
  clipping norm, over steps whose gradients are below and far above the clipping norm."""
  rng = np.random.default_rng(0)
  shapes = {"dense/kernel": (3, 4), "dense/bias": (4,), "norm/scale": (4,)}
  flat = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
  nest = lambda f: {
    "dense": {"kernel": f["dense/kernel"], "bias": f["dense/bias"]},
    "norm": {"scale": f["norm/scale"]},
  }
  grads_seq = []
  for scale in (0.3, 80.0, 2.0, 0.05, 500.0):
    g = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    norm = np.sqrt(sum((x**2).sum() for x in g.values()))
    grads_seq.append({k: x * scale / norm for k, x in g.items()})
  tx = make_optimizer(
    settings["lr"], settings["wd"], *[settings[k] for k in ("b1", "b2", "clip") if k in settings]
  )
  reference = _adamw_reference(flat, grads_seq, **{"b1": 0.9, "b2": 0.95, "clip": 1.0, **settings})
  params = jax.tree.map(jnp.asarray, nest(flat))
  state = tx.init(params)
  update = jax.jit(tx.update)
  for grads, want in zip(grads_seq, reference):
    updates, state = update(jax.tree.map(jnp.asarray, nest(grads)), state, params)
    params = optax.apply_updates(params, updates)
    chex.assert_trees_all_close(params, nest(want), rtol=1e-5, atol=1e-6)


def test_clipping_bounds_the_update_of_a_large_gradient():
  """Beyond the clipping norm the update no longer grows with the gradient; without clipping
  Adam's second step would follow the huge gradient's size relative to the first."""
  params = {"w": jnp.zeros(4)}
  tx = make_optimizer(1e-3, 0.0, clip_grad_norm=1.0)
  small = {"w": jnp.array([0.1, -0.2, 0.0, 0.05])}
  direction = jnp.array([3.0, 4.0, 0.0, 0.0]) / 5.0
  state = tx.init(params)
  _, state = tx.update(small, state, params)
  second = lambda scale: tx.update({"w": scale * direction}, state, params)[0]["w"]
  chex.assert_trees_all_close(second(1e6), second(1.0), rtol=1e-6)
  chex.assert_trees_all_close(second(30.0), second(1.0), rtol=1e-6)
  assert not np.allclose(second(0.5), second(1.0), rtol=1e-3)  # below the norm: not clipped


def test_cosine_schedule_warms_up_then_ends_at_the_minimum():
  lr = learning_rate_schedule("cosine", 1e-3, 2000, 100, 1e-4)
  assert float(lr(0)) == 0.0
  assert abs(float(lr(50)) - 0.5e-3) < 1e-9  # linear warm-up
  assert abs(float(lr(100)) - 1e-3) < 1e-9  # the peak at the end of warm-up
  assert abs(float(lr(1999)) - 1e-4) < 1e-9  # the minimum at the last update
  assert 1e-4 < float(lr(1000)) < 1e-3
  # cosine between: min + (peak - min)(1 + cos(pi (t - warm-up) / (last - warm-up))) / 2
  for t in (500, 1000, 1998):
    want = 1e-4 + 0.9e-3 * (1 + math.cos(math.pi * (t - 100) / 1899)) / 2
    assert float(lr(t)) == pytest.approx(want, rel=1e-5), t
  assert float(lr(1998)) > 1e-4  # the minimum only at the last update
  constant = learning_rate_schedule("constant", 5e-4, 1)
  assert float(constant(0)) == float(constant(10**6)) == 5e-4


def test_cosine_schedule_defaults_and_a_warm_up_longer_than_the_run():
  """No warm-up and a minimum of 0 by default; a warm-up longer than the run still peaks at
  its end and reaches the minimum one update later."""
  lr = learning_rate_schedule("cosine", 1e-3, 100)
  assert float(lr(0)) == pytest.approx(1e-3) and float(lr(99)) == 0.0
  lr = learning_rate_schedule("cosine", 1e-3, 10, 20, 1e-4)
  assert float(lr(10)) == pytest.approx(0.5e-3)
  assert float(lr(20)) == pytest.approx(1e-3) and float(lr(21)) == pytest.approx(1e-4)


def test_a_runs_config_gives_its_optimizer_and_schedule_once():
  """from_config and schedule_from_config pass every setting on, and return the one cached
  object per setting (so the jitted steps that close over them are not compiled again); a
  constant schedule does not depend on the run's length."""
  from hw2_jax.gpt.config import Config
  from hw2_jax.gpt.optimizer import from_config, schedule_from_config

  cfg = Config(
    learning_rate=2e-3,
    lr_schedule="cosine",
    warmup_steps=10,
    min_learning_rate=1e-4,
    weight_decay=0.2,
    beta1=0.8,
    beta2=0.9,
    clip_grad_norm=0.5,
  )
  assert from_config(cfg, 100) is make_optimizer(2e-3, 0.2, 0.8, 0.9, 0.5, "cosine", 100, 10, 1e-4)
  assert schedule_from_config(cfg, 100) is learning_rate_schedule("cosine", 2e-3, 100, 10, 1e-4)
  constant = dataclasses.replace(cfg, lr_schedule="constant")
  assert (
    from_config(constant, 100)
    is from_config(constant, 7)
    is make_optimizer(2e-3, 0.2, 0.8, 0.9, 0.5, "constant", 1, 10, 1e-4)
  )
  assert float(schedule_from_config(constant, 100)(50)) == pytest.approx(2e-3)
