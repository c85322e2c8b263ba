"""AdamW: weight decay masks exactly the linear weights; clipping bounds the update."""

import chex
import jax
import jax.numpy as jnp
import optax

from hw2_jax.gpt.config import ModelConfig
from hw2_jax.gpt.model import init_params
from hw2_jax.gpt.optimizer import decay_mask, make_optimizer

CFG = ModelConfig(vocab_size=11, n_layer=2, n_head=2, n_embd=16, block_size=8, abs_emb=True)


def _names(tree):
  return {"/".join(k.key for k in path): v
          for path, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def test_mask_covers_exactly_the_linear_weights():
  params = init_params(CFG, jax.random.key(0))
  mask = _names(decay_mask(params))
  decayed = {n for n, m in mask.items() if m}
  linear = {f"h_{i}/{m}/kernel" for i in range(2)
            for m in ("attn/c_attn", "attn/c_proj", "mlp/c_fc", "mlp/c_proj")} | {"lm_head/kernel"}
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


def test_clipping_by_global_norm():
  params = {"w": jnp.zeros(4)}
  tx = optax.chain(optax.clip_by_global_norm(1.0))
  g = {"w": jnp.array([3.0, 4.0, 0.0, 0.0])}
  clipped, _ = tx.update(g, tx.init(params))
  chex.assert_trees_all_close(optax.tree.norm(clipped), 1.0, atol=1e-6)
  first = make_optimizer(1e-3, 0.0).update(g, make_optimizer(1e-3, 0.0).init(params), params)[0]
  # Adam's first step is lr * sign(g) whatever the gradient's scale
  chex.assert_trees_all_close(first["w"], jnp.array([-1e-3, -1e-3, 0.0, 0.0]), atol=1e-6)


def test_cosine_schedule_warms_up_then_ends_at_the_minimum():
  from hw2_jax.gpt.optimizer import learning_rate_schedule  # pylint: disable=import-outside-toplevel
  lr = learning_rate_schedule("cosine", 1e-3, 2000, 100, 1e-4)
  assert float(lr(0)) == 0.0
  assert abs(float(lr(50)) - 0.5e-3) < 1e-9  # linear warm-up
  assert abs(float(lr(100)) - 1e-3) < 1e-9   # the peak at the end of warm-up
  assert abs(float(lr(1999)) - 1e-4) < 1e-9  # the minimum at the last update
  assert 1e-4 < float(lr(1000)) < 1e-3
  constant = learning_rate_schedule("constant", 5e-4, 1)
  assert float(constant(0)) == float(constant(10**6)) == 5e-4
