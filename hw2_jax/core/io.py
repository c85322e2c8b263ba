"""Result files: written atomically (a crash never leaves half a file), locally or at a URI.

Local paths get a temporary file in the same folder, fsync and a rename; a URI such as
`gs://bucket/run` is written through `etils.epath` (an object store writes an object whole;
Cloud Storage needs `pip install gcsfs` there). Every writer of the project goes through
`atomic_open`.
"""

import contextlib
import importlib.util
import io
import json
import os
import tempfile
from pathlib import Path

from etils import epath

from hw2_jax.core.errors import ConfigError


def is_uri(path) -> bool:
  return "://" in str(path)


# URI schemes etils.epath writes through, and the package each needs.
URI_PACKAGES = {"gs": "gcsfs", "s3": "s3fs"}


def as_path(path):
  """A pathlib.Path for a local path, an epath.Path for a URI (gs://...)."""
  return epath.Path(path) if is_uri(path) else Path(path)


def check_uri(path, flag: str = "--out") -> None:
  """Refuses, in one line, a URI whose scheme is unknown or whose filesystem is not installed."""
  if not is_uri(path):
    return
  scheme = str(path).split("://", 1)[0]
  if scheme not in URI_PACKAGES:
    raise ConfigError(
      f"{flag} {str(path)!r}: unknown scheme {scheme}://; pass a local folder or a "
      f"{' or '.join(s + '://' for s in URI_PACKAGES)} URI."
    )
  package = URI_PACKAGES[scheme]
  if importlib.util.find_spec(package) is None:
    raise ConfigError(
      f"{flag} {str(path)!r} needs the {package} package to write {scheme}:// URIs; "
      f"pip install {package}, or pass a local folder."
    )


def ensure_writable_dir(path, flag: str = "--out"):
  """Creates `path` if needed and checks it is writable, before any work starts.

  `flag` names the option the user sets the folder with, for the error message.
  """
  check_uri(path, flag)
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


def umask() -> int:
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
    os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600; results are ordinary files
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


def _schema_error(obj, spec, where: str) -> str | None:
  """Where `obj` departs from `spec`, or None. A spec is a type (float admits ints), a list of
  one spec (every item), or a dict of required keys ("*": every key of a mapping)."""
  if isinstance(spec, dict):
    if not isinstance(obj, dict):
      return f"{where or 'the top level'} should be an object, not {type(obj).__name__}"
    items = obj.items() if "*" in spec else ((k, obj.get(k, _MISSING)) for k in spec)
    for key, value in items:
      if value is _MISSING:
        return f"{where + '.' if where else ''}{key} is missing"
      found = _schema_error(value, spec.get(key, spec.get("*")), f"{where}.{key}".lstrip("."))
      if found:
        return found
    return None
  if isinstance(spec, list):
    if not isinstance(obj, list):
      return f"{where} should be a list, not {type(obj).__name__}"
    return next(
      (e for i, v in enumerate(obj) if (e := _schema_error(v, spec[0], f"{where}[{i}]"))), None
    )
  ok = (
    isinstance(obj, (int, float)) and not isinstance(obj, bool)
    if spec is float
    else (isinstance(obj, spec))
  )
  return None if ok else f"{where} should be {spec.__name__}, not {type(obj).__name__}"


_MISSING = object()


def check_schema(obj, spec, path, fix: str):
  """`obj` (read from `path`) if it has the shape `spec` says, else a one-line error."""
  problem = _schema_error(obj, spec, "")
  if problem:
    raise ConfigError(f"{str(path)!r} is not what this command wrote ({problem}); {fix}.")
  return obj


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
