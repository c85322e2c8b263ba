"""Runnable recipes: `python -m experiments.<name> [more flags]`, one per table or figure.

Each module's docstring gives its command and the result it reproduces; `run` starts the
process exactly as `python -m hw2_jax` does (core/startup.py), so a recipe behaves like the
`make` target it equals.
"""

import sys

from hw2_jax import cli
from hw2_jax.core import startup


def run(module: str, args: list[str]) -> None:
  """Runs `python -m hw2_jax <args> <the command line's extra flags>` as module `module`."""
  startup.reexec(module)
  cli.main(args + sys.argv[1:])
