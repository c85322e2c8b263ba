"""One command line: `python -m hw2_jax <command> --help`.

Each study registers its commands from its own `cli.py`; the Makefile targets are
thin aliases of these commands.
"""

import argparse
import importlib
import sys

from hw2_jax.core.errors import ConfigError

# Modules with a `register(subparsers)` that adds their commands.
_STUDIES = ("hw2_jax.padding.cli", "hw2_jax.rotation.cli", "hw2_jax.gpt.cli")


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="python -m hw2_jax",
      description="Reproduce the hw2 experiments: the CNN padding study, the rotation "
                  "study and the micro-GPT.",
      epilog="Compiled programs are cached in $XDG_CACHE_HOME or ~/.cache, under hw2_jax/jax, "
             "so a rerun or --resume skips most compiling; set JAX_COMPILATION_CACHE_DIR to "
             "move the cache or HW2_JAX_NO_COMPILE_CACHE=1 to turn it off.")
  subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
  for name in _STUDIES:
    importlib.import_module(name).register(subparsers)
  return parser


def main(argv=None) -> None:
  args = build_parser().parse_args(argv)
  try:
    args.func(args)
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
