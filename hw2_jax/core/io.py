"""Result files: written atomically (a crash never leaves half a file), locally or at a URI.

Local paths get a temporary file in the same folder, fsync and a rename; a URI such as
`gs://bucket/run` is written through `etils.epath` (an object store writes an object whole;
Cloud Storage needs `pip install gcsfs` there). Every writer of the project goes through
`atomic_open`.
"""

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

from etils import epath

from hw2_jax.core.errors import ConfigError


def is_uri(path) -> bool:
  return "://" in str(path)


def as_path(path):
  """A pathlib.Path for a local path, an epath.Path for a URI (gs://...)."""
  return epath.Path(path) if is_uri(path) else Path(path)


def ensure_writable_dir(path, flag: str = "--out"):
  """Creates `path` if needed and checks it is writable, before any work starts.

  `flag` names the option the user sets the folder with, for the error message.
  """
  path = as_path(path)
  try:
    path.mkdir(parents=True, exist_ok=True)
    if not is_uri(path):
      with tempfile.NamedTemporaryFile(dir=path):
        pass
  except OSError as e:
    raise ConfigError(
      f"{flag} {str(path)!r} is not a writable folder "
      f"({e.strerror or e}); pass a writable one with {flag}."
    ) from None
  return path


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


@contextlib.contextmanager
def atomic_open(path):
  """A binary file object whose content replaces `path` only when the block ends normally."""
  path = as_path(path)
  if is_uri(path):
    buffer = io.BytesIO()
    yield buffer
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
    with os.fdopen(fd, "wb") as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def write_bytes(path, data: bytes) -> None:
  with atomic_open(path) as f:
    f.write(data)


def write_text(path, text: str) -> None:
  write_bytes(path, text.encode())


def write_json(path, obj) -> None:
  write_text(path, json.dumps(obj, indent=2) + "\n")


def read_json(path, what: str, fix: str) -> dict:
  """The JSON at `path`; a damaged file is a one-line error naming `what` and the `fix`."""
  path = as_path(path)
  try:
    return json.loads(path.read_text())
  except (ValueError, UnicodeDecodeError) as e:
    raise ConfigError(f"{what} {str(path)!r} is damaged ({e}); {fix}.") from None


def read_jsonl(path, warn=print) -> list[dict]:
  """The records of a JSON-lines file; a torn last line (a killed writer) is skipped, with a
  warning. A damaged line before the last one is an error: the file is not ours to guess."""
  lines = as_path(path).read_text().splitlines()
  records = []
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      records.append(json.loads(line))
    except ValueError:
      if i == len(lines) - 1:
        warn(f"warning: skipped a torn last line of {path} (a run was killed while writing it)")
      else:
        raise ConfigError(
          f"line {i + 1} of {str(path)!r} is not JSON; repair or remove the file."
        ) from None
  return records


def cache_dir(env=os.environ) -> Path:
  """This project's cache folder: $XDG_CACHE_HOME/hw2_jax, else ~/.cache/hw2_jax."""
  base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
  return base / "hw2_jax"
