"""One command line: `python -m hw2_jax [multi-process flags] <command> --help`.

Each study registers its commands from its own `cli.py`; the Makefile targets and the recipes
in experiments/ are thin aliases of these commands. Errors the user can act on are one line on
stderr: bad input (exit 2), a run that stopped itself (exit 1), Ctrl-C or SIGTERM (exit 130).
"""

import argparse
import importlib
import sys

from hw2_jax.core import launch, startup
from hw2_jax.core.errors import ConfigError, Interrupted, RunError

# Modules with a `register(subparsers)` that adds their commands.
_STUDIES = ("hw2_jax.padding.cli", "hw2_jax.rotation.cli", "hw2_jax.gpt.cli", "hw2_jax.report.cli")


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
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


def main(argv=None) -> None:
  args = build_parser().parse_args(argv)
  try:
    if args.command != "launch":
      startup.init(args)
    args.func(args)
  except (ConfigError, RunError, Interrupted) as e:
    print(f"error: {e}" if not isinstance(e, Interrupted) else str(e), file=sys.stderr)
    sys.exit(e.exit_status)
  except KeyboardInterrupt:
    print("interrupted.", file=sys.stderr)
    sys.exit(Interrupted.exit_status)
