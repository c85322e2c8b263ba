"""Decoding: top-k / top-p / temperature on fixed logits, cache == no cache, and the
gpt-generate command: its flags reach the generator, its errors are one line."""

import collections
import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.cli import main
from hw2_jax.gpt import checkpoints, study
from hw2_jax.gpt.config import Config, ModelConfig
from hw2_jax.gpt.generate import Generator, filter_logits, pick_tokens
from hw2_jax.gpt.model import init_params
from hw2_jax.gpt.tokenizer import CharTokenizer

PROBS = np.array([[0.5, 0.25, 0.15, 0.1], [0.1, 0.15, 0.25, 0.5]], np.float32)
LOGITS = jnp.log(PROBS)


def _probs(**kw):
  return np.asarray(jax.nn.softmax(filter_logits(LOGITS, **kw), axis=-1))


def test_top_k_keeps_the_k_most_likely():
  chex.assert_trees_all_close(
    _probs(top_k=2), np.array([[2 / 3, 1 / 3, 0, 0], [0, 0, 1 / 3, 2 / 3]]), atol=1e-6
  )
  chex.assert_trees_all_close(_probs(top_k=1), np.array([[1, 0, 0, 0], [0, 0, 0, 1]]), atol=1e-6)
  chex.assert_trees_all_close(_probs(top_k=4), PROBS, atol=1e-6)


@pytest.mark.parametrize(
  "p,kept", [(0.5, 1), (0.7, 2), (0.75, 2), (0.76, 3), (0.9, 3), (0.91, 4), (1.0, 4)]
)
def test_top_p_keeps_the_smallest_set_reaching_p(p, kept):
  probs = _probs(top_p=p)
  for row, ref in zip(probs, PROBS):
    order = np.argsort(-ref)
    want = np.zeros(4)
    want[order[:kept]] = ref[order[:kept]] / ref[order[:kept]].sum()
    chex.assert_trees_all_close(row, want, atol=1e-6)


def test_temperature_scales_logits():
  for t in (0.5, 1.0, 3.0):
    chex.assert_trees_all_close(
      _probs(temperature=t), np.asarray(jax.nn.softmax(LOGITS / t, axis=-1)), atol=1e-6
    )
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


@pytest.mark.parametrize("abs_emb", [False, True])
def test_cached_decoding_equals_the_full_forward(abs_emb):
  """Every step's logits with the key/value cache equal those of running the model on the
  whole (cropped) context; so do the tokens, greedy or sampled with the same key."""
  cfg = ModelConfig(
    vocab_size=13, n_layer=2, n_head=2, n_embd=16, block_size=8, dropout=0.0, abs_emb=abs_emb
  )
  params = init_params(cfg, jax.random.PRNGKey(1))
  leaves, treedef = jax.tree.flatten(params)  # large random weights: context matters
  keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
  params = jax.tree.unflatten(
    treedef, [p + 0.5 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
  )
  gen = Generator(cfg)
  calls, logits = collections.Counter(), []

  def counted(name, f):
    def call(*args):
      out = f(*args)
      calls.update([name])
      logits.append(np.asarray(out[0] if isinstance(out, tuple) else out))
      return out

    return call

  for name in ("_prefill", "_decode", "_window"):
    setattr(gen, name, counted(name, getattr(gen, name)))
  prompt = np.array([1, 5, 2], np.int32)
  kw = dict(num_samples=2, max_new_tokens=20, key=jax.random.key(0), greedy=True)
  cached = gen.generate(params, prompt, use_cache=True, **kw)
  # one position per token while the 8-position cache has room (tokens 2-6 of 20), then the
  # cropped window
  assert calls == {"_prefill": 1, "_decode": 5, "_window": 14}
  cached_logits, logits[:] = list(logits), []
  calls.clear()
  uncached = gen.generate(params, prompt, use_cache=False, **kw)
  assert calls == {"_window": 20}
  chex.assert_trees_all_close(cached_logits, logits, atol=1e-4)
  chex.assert_shape(cached, (2, 23))
  np.testing.assert_array_equal(cached, uncached)
  np.testing.assert_array_equal(cached[:, :3], np.tile(prompt, (2, 1)))
  # sampling with the same key gives the same tokens too
  kw.update(greedy=False, top_k=5)
  np.testing.assert_array_equal(
    gen.generate(params, prompt, use_cache=True, **kw),
    gen.generate(params, prompt, use_cache=False, **kw),
  )
  # a prompt longer than block_size is cropped to its last block_size tokens
  long = np.arange(12, dtype=np.int32) % 13
  kw.update(greedy=True, top_k=None, max_new_tokens=4)
  np.testing.assert_array_equal(
    gen.generate(params, long, **kw)[:, 12:], gen.generate(params, long[-8:], **kw)[:, 8:]
  )
  # by default: sampled at temperature 1 from every token, with the cache
  key = jax.random.PRNGKey(3)
  default = gen.generate(params, prompt, 2, 10, key)
  np.testing.assert_array_equal(
    default,
    gen.generate(params, prompt, 2, 10, key, greedy=False, temperature=1.0, use_cache=False),
  )
  assert not np.array_equal(default, gen.generate(params, prompt, 2, 10, key, greedy=True))
  assert not np.array_equal(default, gen.generate(params, prompt, 2, 10, key, temperature=2.0))


TEXT = "Yesterday I went to the wood. The king said to the frog that the wood was gold. "


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A gpt-train run of one step of a tiny model: something for gpt-generate to load."""
  root = tmp_path_factory.mktemp("gen")
  text = root / "text.txt"
  text.write_text(TEXT * 20, encoding="utf-8")
  cfg = Config(
    out=str(root / "run"),
    txt_file=str(text),
    model_type="gpt-nano",
    n_layer=1,
    n_head=2,
    n_embd=16,
    block_size=8,
    train_batch_size=4,
    max_steps=1,
    generate_every=0,
    progress=False,
  )
  study.train_and_evaluate(cfg)
  return root / "run"


def test_generate_flags_reach_the_generator(run_dir, monkeypatch, capsys):
  calls = []
  real_generate, real_restore = Generator.generate, checkpoints.restore_run

  def generate(self, params, prompt_T, num_samples, max_new_tokens, key, **kwargs):
    calls.append(
      dict(
        cfg=self.cfg,
        prompt=np.asarray(prompt_T),
        num_samples=num_samples,
        max_new_tokens=max_new_tokens,
        key=np.asarray(jax.random.key_data(key)),
        **kwargs,
      )
    )
    return real_generate(self, params, prompt_T, num_samples, max_new_tokens, key, **kwargs)

  restored = []
  monkeypatch.setattr(Generator, "generate", generate)
  monkeypatch.setattr(
    checkpoints,
    "restore_run",
    lambda run, which, step=None: restored.append((which, step)) or real_restore(run, which, step),
  )
  out_file = run_dir.parent / "samples.txt"
  main(
    [
      "gpt-generate",
      "--checkpoint",
      str(run_dir),
      "--which",
      "best",
      "--prompt",
      "the fr",
      "--num-samples",
      "3",
      "--max-new-tokens",
      "7",
      "--temperature",
      "0.7",
      "--top-k",
      "4",
      "--seed",
      "5",
      "--precision",
      "bf16",
      "--no-cache",
      "--out",
      str(out_file),
    ]
  )
  main(
    [
      "gpt-generate",
      "--checkpoint",
      str(run_dir),
      "--greedy",
      "--top-p",
      "0.8",
      "--max-new-tokens",
      "2",
      "--which",
      "last",
      "--step",
      "1",
    ]
  )
  assert restored == [("best", None), ("last", 1)]
  tok = CharTokenizer.from_text(TEXT)
  sampled, greedy = calls
  np.testing.assert_array_equal(sampled["prompt"], tok.encode("the fr"))
  assert (sampled["num_samples"], sampled["max_new_tokens"]) == (3, 7)
  np.testing.assert_array_equal(sampled["key"], jax.random.key_data(jax.random.key(5)))
  assert (
    sampled["greedy"],
    sampled["temperature"],
    sampled["top_k"],
    sampled["top_p"],
    sampled["use_cache"],
  ) == (False, 0.7, 4, None, False)
  assert sampled["cfg"].precision == "bf16"
  assert (
    greedy["greedy"],
    greedy["temperature"],
    greedy["top_k"],
    greedy["top_p"],
    greedy["use_cache"],
  ) == (True, 1.0, None, 0.8, True)
  assert (greedy["num_samples"], greedy["max_new_tokens"]) == (1, 2)
  assert greedy["cfg"].precision == "fp32"  # auto: the run's precision (fp32 on the CPU)
  np.testing.assert_array_equal(greedy["key"], jax.random.key_data(jax.random.key(0)))
  printed = capsys.readouterr().out
  assert printed.count("--- sample") == 4 and printed.count("(step 1)") == 4
  text = out_file.read_text()
  assert text.count("--- sample") == 3 and all(
    line.startswith("the fr") and len(line) == 6 + 7
    for line in text.splitlines()
    if not line.startswith("---")
  )


@pytest.mark.parametrize(
  "flags,message",
  [
    (["--which", "middle"], "argument --which: invalid choice: 'middle'"),
    (["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    (["--num-samples", "0"], "--num-samples must be >= 1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--temperature", "0"], "--temperature must be > 0.0"),
    (["--top-k", "0"], "--top-k must be >= 1"),
    (["--top-p", "0"], "--top-p must be > 0.0"),
    (["--top-p", "1.5"], "--top-p must be <= 1.0"),
    (["--num-samples", "1000000"], "--num-samples must be <= 4096"),
    (["--max-new-tokens", "100000000000"], "--max-new-tokens must be <= 1000000"),
    (["--prompt", ""], "--prompt is empty"),
    (["--top-k", "99"], "--top-k 99 exceeds the vocabulary size"),
  ],
)
def test_generate_rejects_bad_flags_in_one_line(run_dir, flags, message, capsys, monkeypatch):
  monkeypatch.setattr(Generator, "generate", lambda *a, **k: pytest.fail("generated"))
  with pytest.raises(SystemExit) as e:
    main(["gpt-generate", "--checkpoint", str(run_dir), *flags])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_one_generator_per_model_config():
  """gpt-train's samples and gpt-generate share one Generator (and its compiled functions)
  per model config."""
  from hw2_jax.gpt.generate import get_generator

  cfg = ModelConfig(vocab_size=13, n_layer=1, n_head=2, n_embd=16, block_size=8)
  gen = get_generator(cfg)
  assert isinstance(gen, Generator) and gen.cfg == cfg
  assert (
    get_generator(ModelConfig(vocab_size=13, n_layer=1, n_head=2, n_embd=16, block_size=8)) is gen
  )
  assert get_generator(dataclasses.replace(cfg, n_layer=2)) is not gen
