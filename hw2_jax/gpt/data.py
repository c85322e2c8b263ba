"""The training text (a local file or the assignment's book, downloaded once), its split into
training and validation characters, and batches drawn on the devices.

A training example is any window of block_size + 1 characters: x is its first block_size
characters, y the same shifted by one. Training batches are drawn uniformly with replacement,
on the devices, from the step number alone, so a resumed run sees exactly the batches of an
uninterrupted one and no host ever holds a batch (in a multi-process run each device draws its
own rows). Validation uses the same fixed batches at every evaluation.

Dimension letters: N characters, B sequences of a batch, T positions, K evaluation batches.
"""

import hashlib
import urllib.request
from pathlib import Path

import jax
import jax.numpy as jnp
from tqdm import tqdm

from hw2_jax.core import io
from hw2_jax.core.errors import ConfigError

# The exact file the assignment trained on (Grimms' Fairy Tales, Project Gutenberg #2591, as
# committed to the course repository), pinned by commit and checksum.
DEFAULT_BOOK_URL = (
  "https://raw.githubusercontent.com/uvadlc/uvadlc_practicals_2024/"
  "318b2c7bfc783dc5df47f4f812f83ae9ed6a3dcc/assignment2/part2/assets/"
  "book_EN_grimms_fairy_tales.txt"
)
DEFAULT_BOOK_SHA256 = "e6439bd511820742e842e21b75e89b394d3809eec82ca56b506c39ff39d4a7d6"
DEFAULT_BOOK_NAME = "book_EN_grimms_fairy_tales.txt"


def sha256(path) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def download(url: str, dest: Path, digest: str | None = None, timeout: float = 30.0) -> Path:
  """Downloads `url` to `dest` once (atomically, with a progress bar), checking its sha256."""
  dest = Path(dest)
  if dest.exists() and (digest is None or sha256(dest) == digest):
    return dest
  try:
    with urllib.request.urlopen(url, timeout=timeout) as r, io.atomic_open(dest) as f:
      total = int(r.headers.get("Content-Length") or 0) or None
      with tqdm(
        total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}", disable=None
      ) as bar:
        h = hashlib.sha256()
        while chunk := r.read(1 << 16):
          f.write(chunk)
          h.update(chunk)
          bar.update(len(chunk))
        if digest is not None and h.hexdigest() != digest:
          raise ConfigError(
            f"the file downloaded from {url} has sha256 {h.hexdigest()}, not "
            f"the expected {digest}; pass a local copy with --txt-file PATH."
          )
  except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors
    if isinstance(e, ConfigError):
      raise
    raise ConfigError(
      f"could not download the default book from {url} ({e}); "
      "pass a local text file with --txt-file PATH."
    ) from None
  return dest


def load_text(
  txt_file: str | None,
  cache_dir: str | None = None,
  url: str = DEFAULT_BOOK_URL,
  digest: str | None = DEFAULT_BOOK_SHA256,
) -> str:
  """Reads `txt_file`, or the default book (downloaded into `cache_dir` once, sha256-checked)."""
  if txt_file is None:
    path = download(url, Path(cache_dir or io.cache_dir()) / DEFAULT_BOOK_NAME, digest)
  else:
    path = Path(txt_file)
    if not path.is_file():
      raise ConfigError(
        f"--txt-file {txt_file!r} is not a file; pass a path to a UTF-8 "
        "text file, or leave it out to use the default book."
      )
  try:
    return path.read_text(encoding="utf-8")
  except UnicodeDecodeError:
    raise ConfigError(f"--txt-file {str(path)!r} is not UTF-8 text; convert it to UTF-8.") from None


def text_digest(text: str) -> str:
  return hashlib.sha256(text.encode()).hexdigest()


def split(ids_N, val_fraction: float):
  """(training ids, validation ids): the last `val_fraction` of the text is held out."""
  n_val = int(len(ids_N) * val_fraction)
  return ids_N[: len(ids_N) - n_val], ids_N[len(ids_N) - n_val :]


def steps_per_epoch(num_chars: int, block_size: int, batch_size: int) -> int:
  """floor(windows / batch): there are len(text) - block_size windows of block_size + 1."""
  return (num_chars - block_size) // batch_size


def sample_batch(key, data_N, batch_size: int, block_size: int):
  """Uniform windows with replacement: returns (x_BxT, y_BxT), y shifted by one."""
  starts_B = jax.random.randint(key, (batch_size,), 0, data_N.shape[0] - block_size)
  idx_BxT = starts_B[:, None] + jnp.arange(block_size)[None, :]
  return data_N[idx_BxT], data_N[idx_BxT + 1]


def eval_batches(key, data_N, num_batches: int, batch_size: int, block_size: int):
  """The fixed evaluation batches: (x_KxBxT, y_KxBxT), batch k drawn with fold_in(key, k)."""
  keys_K = jax.vmap(lambda k: jax.random.fold_in(key, k))(jnp.arange(num_batches))
  return jax.vmap(lambda k: sample_batch(k, data_N, batch_size, block_size))(keys_K)
