"""The training text (a local file or the default book, downloaded once) and batches.

A training example is any window of block_size + 1 characters: x is its first
block_size characters, y the same shifted by one. Batches are drawn uniformly with
replacement, on device, from the step number alone, so a resumed run sees exactly
the batches of an uninterrupted one.
"""

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import jax
import jax.numpy as jnp
from tqdm import tqdm

from hw2_jax.core.errors import ConfigError

# Grimms' Fairy Tales, Project Gutenberg EBook #2591.
DEFAULT_BOOK_URL = "https://www.gutenberg.org/cache/epub/2591/pg2591.txt"
DEFAULT_BOOK_NAME = "grimms_fairy_tales_pg2591.txt"


def default_cache_dir() -> Path:
  base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
  return Path(base) / "hw2_jax"


def download(url: str, dest: Path, timeout: float = 30.0) -> Path:
  """Downloads `url` to `dest` once (atomic rename), with a progress bar."""
  dest = Path(dest)
  if dest.exists():
    return dest
  dest.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
  try:
    with urllib.request.urlopen(url, timeout=timeout) as r, os.fdopen(fd, "wb") as f:
      total = int(r.headers.get("Content-Length") or 0) or None
      with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}",
                disable=None) as bar:
        while chunk := r.read(1 << 16):
          f.write(chunk)
          bar.update(len(chunk))
    shutil.move(tmp, dest)
  except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise ConfigError(
        f"could not download the default book from {url} ({e}); "
        "pass a local text file with --txt-file PATH.") from None
  return dest


def load_text(txt_file: str | None, cache_dir: str | None = None,
              url: str = DEFAULT_BOOK_URL) -> str:
  """Reads `txt_file`, or the default book (downloaded into `cache_dir` once)."""
  if txt_file is None:
    path = download(url, Path(cache_dir or default_cache_dir()) / DEFAULT_BOOK_NAME)
  else:
    path = Path(txt_file)
    if not path.is_file():
      raise ConfigError(f"--txt-file {txt_file!r} is not a file; pass a path to a UTF-8 "
                        "text file, or leave it out to use the default book.")
  try:
    return path.read_text(encoding="utf-8")
  except UnicodeDecodeError:
    raise ConfigError(f"--txt-file {str(path)!r} is not UTF-8 text; convert it to UTF-8.") \
        from None


def steps_per_epoch(num_chars: int, block_size: int, batch_size: int) -> int:
  """floor(windows / batch): there are len(text) - block_size windows of block_size + 1."""
  return (num_chars - block_size) // batch_size


def sample_batch(key, data_N, batch_size: int, block_size: int):
  """Uniform windows with replacement: returns (x_BxT, y_BxT), y shifted by one."""
  starts_B = jax.random.randint(key, (batch_size,), 0, data_N.shape[0] - block_size)
  idx_BxT = starts_B[:, None] + jnp.arange(block_size)[None, :]
  return data_N[idx_BxT], data_N[idx_BxT + 1]
