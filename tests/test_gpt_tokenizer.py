"""Character tokenizer: sorted vocabulary, round trip, clear errors."""

import chex
import numpy as np
import pytest

from hw2_jax.core.errors import ConfigError
from hw2_jax.gpt.tokenizer import CharTokenizer


def test_vocabulary_is_sorted_distinct_characters():
  tok = CharTokenizer.from_text("hello, world\n“ü”")
  assert tok.chars == "".join(sorted(set("hello, world\n“ü”")))
  assert tok.vocab_size == 13


def test_round_trip():
  text = "Once upon a time\nthere lived a king’s daughter."
  tok = CharTokenizer.from_text(text)
  ids = tok.encode(text)
  chex.assert_type(ids, np.int32)
  chex.assert_shape(ids, (len(text),))
  assert ids.min() >= 0 and ids.max() < tok.vocab_size
  assert tok.decode(ids) == text
  assert CharTokenizer(tok.chars).decode(tok.encode("a king")) == "a king"
  np.testing.assert_array_equal(tok.encode(""), np.zeros(0, np.int32))


def test_unknown_character_is_named():
  tok = CharTokenizer.from_text("abc ")
  with pytest.raises(ConfigError, match=r"'Z' \(position 2\)"):
    tok.encode("a Zc")
  with pytest.raises(ValueError):
    CharTokenizer("aab")
