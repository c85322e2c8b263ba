"""One command line: `python -m hw2_jax [multi-process flags] <command> --help`.

Each study registers its commands from its own `cli.py`; the Makefile targets and the recipes
in experiments/ are thin aliases of these commands. Errors the user can act on are one line on
stderr: bad input (exit 2), a run that stopped itself (exit 1), Ctrl-C or SIGTERM (exit 130).
An unexpected error is one line too, naming the file its traceback was written to
(HW2_JAX_TRACEBACK=1 shows it instead).
"""

import argparse
import importlib
import os
import sys
import time
import traceback

from hw2_jax.core import io, launch, startup
from hw2_jax.core.errors import ConfigError, Interrupted, RunError

# Set to see a Python traceback instead of the one line of an unexpected error.
TRACEBACK_ENV = "HW2_JAX_TRACEBACK"
# Modules with a `register(subparsers)` that adds their commands.
_STUDIES = ("hw2_jax.padding.cli", "hw2_jax.rotation.cli", "hw2_jax.gpt.cli", "hw2_jax.report.cli")


class Parser(argparse.ArgumentParser):
  """argparse with its errors in one line, like every other error of the project."""

  def error(self, message):
    self.exit(2, f"error: {self.prog}: {message}; see {self.prog} --help.\n")


def build_parser() -> argparse.ArgumentParser:
  parser = Parser(
    prog="python -m hw2_jax",
    description="Reproduce the hw2 experiments: the CNN padding study, the rotation "
    "study and the micro-GPT.",
    epilog="Outputs go under runs/ unless --out says otherwise. Compiled programs are cached "
    "in $XDG_CACHE_HOME or ~/.cache, under hw2_jax/jax, so a rerun skips most "
    "compiling; set JAX_COMPILATION_CACHE_DIR to move the cache or "
    "HW2_JAX_NO_COMPILE_CACHE=1 to turn it off.",
  )
  startup.add_flags(parser)
  subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
  for name in _STUDIES:
    importlib.import_module(name).register(subparsers)
  launch.register(subparsers)
  return parser


def _internal_error(error: Exception) -> str:
  """Writes the traceback to the project's cache folder; returns the one line for the user."""
  text = traceback.format_exc()
  stamp = time.strftime("%Y%m%d-%H%M%S")
  path = io.cache_dir() / "errors" / f"{stamp}-{os.getpid()}.txt"
  try:
    io.write_text(path, text)
    where = f"the full traceback is in {path}"
  except OSError:
    where = "the traceback could not be written (" + text.strip().splitlines()[-1] + ")"
  first = (str(error).splitlines() or [""])[0][:200]
  return (
    f"error: internal error ({type(error).__name__}: {first}); {where}. Please report it with "
    "the command you ran."
  )


def main(argv=None, start: bool = True) -> None:
  """Runs one command line; `start=False` skips the start-up (core/startup.init), for a recipe
  that runs several commands in one process and has started once already."""
  args = build_parser().parse_args(argv)
  try:
    if start and args.command != "launch":
      startup.init(args)
    args.func(args)
  except (ConfigError, RunError, Interrupted) as e:
    print(f"error: {e}" if not isinstance(e, Interrupted) else str(e), file=sys.stderr)
    sys.exit(e.exit_status)
  except KeyboardInterrupt:
    print("interrupted.", file=sys.stderr)
    sys.exit(Interrupted.exit_status)
  except OSError as e:  # a full disk or a lost folder outside the writers that say so
    if os.environ.get(TRACEBACK_ENV):
      raise
    print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
    sys.exit(RunError.exit_status)
  except Exception as e:
    if os.environ.get(TRACEBACK_ENV):
      raise
    print(_internal_error(e), file=sys.stderr)
    sys.exit(RunError.exit_status)
