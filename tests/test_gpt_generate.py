"""Decoding: top-k / top-p / temperature on fixed logits, and cache == no cache."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.gpt.config import ModelConfig
from hw2_jax.gpt.generate import Generator, filter_logits, pick_tokens
from hw2_jax.gpt.model import init_params

PROBS = np.array([[0.5, 0.25, 0.15, 0.1], [0.1, 0.15, 0.25, 0.5]], np.float32)
LOGITS = jnp.log(PROBS)


def _probs(**kw):
  return np.asarray(jax.nn.softmax(filter_logits(LOGITS, **kw), axis=-1))


def test_top_k_keeps_the_k_most_likely():
  chex.assert_trees_all_close(_probs(top_k=2), np.array(
      [[2 / 3, 1 / 3, 0, 0], [0, 0, 1 / 3, 2 / 3]]), atol=1e-6)
  chex.assert_trees_all_close(_probs(top_k=1), np.array(
      [[1, 0, 0, 0], [0, 0, 0, 1]]), atol=1e-6)
  chex.assert_trees_all_close(_probs(top_k=4), PROBS, atol=1e-6)


@pytest.mark.parametrize("p,kept", [(0.5, 1), (0.7, 2), (0.75, 2), (0.76, 3), (0.9, 3),
                                    (0.91, 4), (1.0, 4)])
def test_top_p_keeps_the_smallest_set_reaching_p(p, kept):
  probs = _probs(top_p=p)
  for row, ref in zip(probs, PROBS):
    order = np.argsort(-ref)
    want = np.zeros(4)
    want[order[:kept]] = ref[order[:kept]] / ref[order[:kept]].sum()
    chex.assert_trees_all_close(row, want, atol=1e-6)


def test_temperature_scales_logits():
  for t in (0.5, 1.0, 3.0):
    chex.assert_trees_all_close(_probs(temperature=t), np.asarray(
        jax.nn.softmax(LOGITS / t, axis=-1)), atol=1e-6)
  # low temperature concentrates on the argmax, high flattens towards uniform
  assert _probs(temperature=0.05)[0, 0] > 0.99
  assert _probs(temperature=100.0).std() < 0.01


def test_pick_tokens_greedy_and_sampled():
  key = jax.random.key(0)
  np.testing.assert_array_equal(pick_tokens(LOGITS, key, greedy=True), [0, 3])
  logits = jnp.tile(LOGITS[:1], (4000, 1))
  draws = np.asarray(pick_tokens(logits, key, greedy=False, top_k=2))
  assert set(draws) == {0, 1}
  assert abs(np.mean(draws == 0) - 2 / 3) < 0.03
  draws = np.asarray(pick_tokens(logits, key, greedy=False))
  chex.assert_trees_all_close(np.bincount(draws, minlength=4) / 4000, PROBS[0], atol=0.03)


def test_greedy_with_cache_equals_without():
  cfg = ModelConfig(vocab_size=13, n_layer=2, n_head=2, n_embd=16, block_size=8, dropout=0.0)
  params = init_params(cfg, jax.random.key(1))
  # sharpen the output so argmax ties are impossible
  params = dict(params, lm_head={"kernel": params["lm_head"]["kernel"] * 50})
  gen = Generator(cfg)
  prompt = np.array([1, 5, 2], np.int32)
  kw = dict(num_samples=2, max_new_tokens=20, key=jax.random.key(0), greedy=True)
  cached = gen.generate(params, prompt, use_cache=True, **kw)
  uncached = gen.generate(params, prompt, use_cache=False, **kw)
  chex.assert_shape(cached, (2, 23))
  np.testing.assert_array_equal(cached, uncached)
  np.testing.assert_array_equal(cached[:, :3], np.tile(prompt, (2, 1)))
  # sampling with the same key gives the same tokens too
  kw.update(greedy=False, top_k=5)
  np.testing.assert_array_equal(gen.generate(params, prompt, use_cache=True, **kw),
                                gen.generate(params, prompt, use_cache=False, **kw))
  # a prompt longer than block_size is cropped to its last block_size tokens
  long = np.arange(12, dtype=np.int32) % 13
  kw.update(greedy=True, top_k=None, max_new_tokens=4)
  np.testing.assert_array_equal(gen.generate(params, long, **kw)[:, 12:],
                                gen.generate(params, long[-8:], **kw)[:, 8:])
