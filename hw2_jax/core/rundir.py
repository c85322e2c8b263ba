"""Output folders: the one rule every command follows before it writes into --out.

1. `claim(out, command)` checks the folder is writable, locks it for the whole run (`flock` on
   OUT/.hw2_jax.lock, which records the owner's process id, so a second run is refused with it
   and a killed run never blocks the next) and refuses a folder that holds another command's
   outputs. OUT/.hw2_jax.json names the command that writes the folder; folders written before
   it existed are recognised by their result files (`SIGNATURES`).
2. What the folder holds was made with some settings. `settings_diff(ours, saved, keys)` lists
   the deciding settings that differ (each study names its own in `config.DECIDING`): none, and
   the run continues what is there (trains only what is missing); some, and `refuse` says which
   and the ways out that work.
3. `remove(out, names)` is what --overwrite does: it deletes the command's own outputs, nothing
   else, and only in a folder `claim` found to be the command's (or nobody's).
4. `write_outputs(out, files)` writes a study's result files as one unit (all or none) and
   prints the one "wrote ..." line.
5. `default_out(base, ...)`: without --out, a run with the default settings writes to `base`
   and any other run to `base-<the settings that differ>`, so a small trial never blocks the
   main run.

In a multi-process run only process 0 writes, locks and checks; a URI (gs://...) is not locked.
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile

import jax

from hw2_jax.core import io
from hw2_jax.core.errors import ConfigError, RunError

LOCK_NAME = ".hw2_jax.lock"
MARKER = ".hw2_jax.json"
# The file that tells which command wrote a folder that has no MARKER (older versions).
SIGNATURES = {
  "padding_study.json": "padding-study",
  "rotation_study.json": "rotation-study",
  "metrics.jsonl": "gpt-train",
  "report.json": "report",
}


def _take_lock(path, flag: str):
  try:
    f = open(path / LOCK_NAME, "a+", encoding="utf-8")  # held open for the whole run
  except OSError as e:
    raise ConfigError(
      f"{flag} {str(path)!r} cannot hold its lock file ({e.strerror}); free some space or "
      f"pass another {flag}."
    ) from None
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
  try:
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
  except OSError:
    pass  # the lock holds without the pid (a full disk); the refusal then says "unknown"
  return f


def check_writable(path, flag: str = "--out"):
  """Creates folder `path` and checks it is writable (process 0 only: the only writer)."""
  if jax.process_index() != 0:
    return io.as_path(path)
  return io.ensure_writable_dir(path, flag)


def owner(out) -> str | None:
  """The command whose outputs folder `out` holds, or None for an empty or foreign folder."""
  out = io.as_path(out)
  try:
    return json.loads((out / MARKER).read_text())["command"]
  except (OSError, ValueError, KeyError, TypeError):
    pass
  for name, command in SIGNATURES.items():
    if (out / name).exists():
      return command
  return None


@contextlib.contextmanager
def claim(path, command: str, flag: str = "--out"):
  """Yields the writable folder `path`, locked against other runs until the block ends, after
  refusing a folder that holds another command's outputs."""
  out = check_writable(path, flag)
  if jax.process_index() != 0:
    yield out
    return
  lock = None if io.is_uri(out) else _take_lock(out, flag)
  try:
    found = owner(out)
    if found not in (None, command):
      raise ConfigError(
        f"{flag} {str(out)!r} holds the outputs of {found}, not {command}; pass another "
        f"{flag} (--overwrite would not remove another command's files)."
      )
    if found is None:
      try:
        io.write_json(out / MARKER, {"command": command})
      except OSError as e:
        raise no_space(out, e, 100) from None
    yield out
  finally:
    if lock is not None:
      lock.close()  # releases the flock; the file stays (removing it would race a waiting run)


def _show(value) -> str:
  if isinstance(value, (list, tuple)):
    return " ".join(map(str, value))
  return str(value)


def settings_diff(ours: dict, saved: dict, keys, names=None) -> list[str]:
  """'--batch-size 100 there, 200 here' for each of `keys` whose values differ; `names` maps a
  key to how the message calls it (default its flag)."""
  names = names or {}
  return [
    f"{names.get(k, '--' + k.replace('_', '-'))} {_show(saved.get(k))} there, "
    f"{_show(ours.get(k))} here"
    for k in keys
    if saved.get(k) != ours.get(k)
  ]


def refuse(out, holds: str, diffs=(), flag: str = "--out", resume: str = "") -> None:
  """The one-line refusal to write over what `out` holds: what differs, and the ways out.

  `resume` names a flag that continues what is there (gpt-train's --resume) when the settings
  agree; the studies continue a folder of the same settings without being asked.
  """
  differ = f" with other settings ({'; '.join(diffs)})" if diffs else ""
  cont = f"pass {resume} to continue it, " if resume and not diffs else "pass "
  raise ConfigError(
    f"{flag} {str(out)!r} holds {holds}{differ}; {cont}--overwrite to replace it, or another "
    f"{flag} to keep it."
  )


def remove(out, names) -> None:
  """Deletes the named files and folders of `out` (what a command writes), nothing else."""
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
    raise ConfigError(
      f"{flag} {str(out)!r} already holds {existing[0]} from an earlier run; pass --overwrite "
      f"to replace it, or another {flag}."
    )


def no_space(folder, error: OSError, need: int) -> RunError:
  """The one line for a write that failed for lack of space (or another OS error)."""
  if error.errno in (errno.ENOSPC, errno.EDQUOT):
    return RunError(
      f"no space left in {str(folder)!r}: its outputs need about {need:,} bytes; free some "
      "space and run the same command again."
    )
  return RunError(f"cannot write in {str(folder)!r} ({error.strerror or error}).")


def write_outputs(out, files: dict, log=print) -> None:
  """Writes {name: bytes} into `out` as one unit: every file goes to a temporary name first,
  and only when all are written are they renamed into place, so a failure (a full disk) leaves
  the previous outputs as they were. Prints the one "wrote ..." line."""
  if not jax.process_index() == 0:
    return
  need = sum(len(b) for b in files.values())
  if io.is_uri(out):
    for name, data in files.items():
      io.write_bytes(io.as_path(out) / name, data)
  else:
    io.as_path(out).mkdir(parents=True, exist_ok=True)
    _write_unit(io.as_path(out), files, need)
  names = list(files)
  log(f"wrote {out}/{names[0]}" if len(names) == 1 else f"wrote {out}/{{{','.join(names)}}}")


def _write_unit(out, files: dict, need: int) -> None:
  free = shutil.disk_usage(out).free
  if need > free:
    raise no_space(out, OSError(errno.ENOSPC, "no space"), need)
  temps = {}
  try:
    for name, data in files.items():
      fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".tmp")
      temps[name] = tmp
      with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
      os.chmod(tmp, 0o666 & ~io.umask())
  except OSError as e:
    for tmp in temps.values():
      with contextlib.suppress(OSError):
        os.unlink(tmp)
    raise no_space(out, e, need) from None
  for name, tmp in temps.items():
    os.replace(tmp, out / name)


def _slug(value) -> str:
  return "_".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def default_out(base: str, ours: dict, defaults: dict, keys) -> str:
  """`base` for the default settings, else `base-<flag>-<value>_...` of those that differ
  (a hash when that name would be long or odd)."""
  diff = [k for k in keys if ours.get(k) != defaults.get(k)]
  if not diff:
    return base
  name = "_".join(f"{k.replace('_', '-')}-{_slug(ours.get(k))}" for k in diff)
  if len(name) > 60 or not re.fullmatch(r"[\w.+-]+", name):
    blob = json.dumps({k: ours.get(k) for k in diff}, sort_keys=True, default=str)
    name = "settings-" + hashlib.sha256(blob.encode()).hexdigest()[:8]
  return f"{base}-{name}"
