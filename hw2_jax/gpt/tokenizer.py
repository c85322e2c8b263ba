"""Character tokenizer: the vocabulary is the sorted distinct characters of the text."""

import numpy as np

from hw2_jax.core.errors import ConfigError


class CharTokenizer:
  def __init__(self, chars: str):
    if len(set(chars)) != len(chars):
      raise ValueError("vocabulary characters must be distinct")
    self.chars = "".join(sorted(chars))
    self.stoi = {c: i for i, c in enumerate(self.chars)}

  @classmethod
  def from_text(cls, text: str) -> "CharTokenizer":
    return cls("".join(sorted(set(text))))

  @property
  def vocab_size(self) -> int:
    return len(self.chars)

  def encode(self, text: str) -> np.ndarray:
    for i, c in enumerate(text):
      if c not in self.stoi:
        raise ConfigError(
          f"character {c!r} (position {i}) is not in the {self.vocab_size}-character "
          "vocabulary of the training text; remove it from the text or prompt."
        )
    return np.fromiter((self.stoi[c] for c in text), dtype=np.int32, count=len(text))

  def decode(self, ids) -> str:
    return "".join(self.chars[int(i)] for i in ids)
