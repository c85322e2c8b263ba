"""Atomic file writes: a crash never leaves a half-written result file."""

import json
import os
import tempfile
from pathlib import Path

from hw2_jax.core.errors import ConfigError


def ensure_writable_dir(path: str | os.PathLike) -> Path:
  """Creates `path` if needed and checks it is writable, before any work starts."""
  path = Path(path)
  try:
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path):
      pass
  except OSError as e:
    raise ConfigError(
        f"output directory {str(path)!r} is not writable ({e.strerror}); "
        "pass a writable one with --out.") from None
  return path


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _atomic_write(path: Path, write) -> None:
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def write_text(path, text: str) -> None:
  _atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path, obj) -> None:
  write_text(path, json.dumps(obj, indent=2) + "\n")


def save_figure(path, fig) -> None:
  """Saves a matplotlib figure atomically (format from the suffix)."""
  fmt = Path(path).suffix.lstrip(".") or "png"
  _atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=120, bbox_inches="tight"))
