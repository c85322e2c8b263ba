"""Output folders: checked before any work, owned by one run at a time, never overwritten silently.

`claim(out)` checks the folder is writable and holds a lock on it for the whole run
(`fcntl.flock` on OUT/.hw2_jax.lock, which records the owner's process id): a second run into
the same folder is refused with that id. The kernel drops the lock when its process ends, so
a killed run never blocks the next one. In a multi-process run only process 0 writes, so only
it takes the lock; a URI (gs://...) is not locked.

What counts as existing results, and whether a run may merge into them, is each study's
decision; `refuse_existing` is the one message for it and `remove` what `--overwrite` does.
"""

import contextlib
import fcntl
import os
import shutil

import jax

from hw2_jax.core import io
from hw2_jax.core.errors import ConfigError

LOCK_NAME = ".hw2_jax.lock"


def _take_lock(path, flag: str):
  f = open(path / LOCK_NAME, "a+", encoding="utf-8")
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    owner = f.read().strip() or "unknown"
    f.close()
    raise ConfigError(
      f"{flag} {str(path)!r} is in use by another run (process {owner}); "
      f"wait for it to finish or pass another {flag}."
    ) from None
  f.seek(0)
  f.truncate()
  f.write(f"{os.getpid()}\n")
  f.flush()
  return f


def check_writable(path, flag: str = "--out"):
  """Creates folder `path` and checks it is writable (process 0 only: the only writer)."""
  if jax.process_index() != 0:
    return io.as_path(path)
  return io.ensure_writable_dir(path, flag)


@contextlib.contextmanager
def claim(path, flag: str = "--out"):
  """Yields the writable output folder `path`, locked against other runs until the block ends."""
  out = check_writable(path, flag)
  if io.is_uri(out) or jax.process_index() != 0:
    yield out
    return
  lock = _take_lock(out, flag)
  try:
    yield out
  finally:
    lock.close()  # releases the flock; the file stays (removing it would race a waiting run)


def refuse_existing(out, holds: str, flag: str = "--out", resume: bool = True) -> None:
  """The one-line refusal to write over results a run did not ask to replace."""
  options = "--resume to continue it, " if resume else ""
  raise ConfigError(
    f"{flag} {str(out)!r} already holds {holds}; pass {options}--overwrite to "
    f"replace it, or another {flag}."
  )


def remove(out, names) -> None:
  """Deletes the named files and folders of `out` (what a study writes), nothing else."""
  for name in names:
    path = io.as_path(out) / name
    if path.is_dir():
      if io.is_uri(path):
        path.rmtree()
      else:
        shutil.rmtree(path)
    elif path.exists():
      path.unlink()


def check_new_files(out, names, overwrite: bool, flag: str = "--out") -> None:
  """Refuses to replace result files that exist, unless `overwrite` (benchmarks' rule)."""
  existing = [n for n in names if (io.as_path(out) / n).exists()]
  if existing and not overwrite:
    refuse_existing(out, f"{existing[0]} from an earlier run", flag, resume=False)
