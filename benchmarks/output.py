"""The flags every benchmark shares: where its two tables go and whether they may be replaced;
and PyTorch, imported the one way the comparators need it."""

import argparse
import importlib.util
import os

from hw2_jax.core import rundir
from hw2_jax.core.errors import ConfigError


def parser(module: str, doc: str) -> argparse.ArgumentParser:
  """The argument parser of `python -m MODULE`, its --help the module's docstring as written."""
  return argparse.ArgumentParser(
    prog=f"python -m {module}", description=doc,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )  # fmt: skip


def add_flags(parser, name: str, quick: str) -> None:
  """--out, --overwrite (of NAME.json and NAME.md there) and --quick (`quick` says what it
  runs instead)."""
  parser.add_argument("--out", default="runs/bench", help="output folder")
  parser.add_argument(
    "--overwrite", action="store_true", help=f"replace {name}.json and {name}.md in --out"
  )
  parser.add_argument("--quick", action="store_true", help=quick)


def parse(parser, argv, name: str):
  """The arguments, once --out is known not to hold tables that must not be replaced (else a
  one-line error, exit status 2, before any work)."""
  args = parser.parse_args(argv)
  try:
    rundir.check_new_files(args.out, [f"{name}.json", f"{name}.md"], args.overwrite)
  except ConfigError as e:
    parser.error(str(e))
  return args


def torch_installed() -> bool:
  """Whether PyTorch can be imported (without importing it)."""
  return importlib.util.find_spec("torch") is not None


def import_torch():
  """PyTorch for a comparator, or None where it is not installed. Its OpenMP threads are made
  passive first (OMP_WAIT_POLICY=PASSIVE unless the variable is set): active ones keep spinning
  after each op and take the cores from XLA's threads when the two frameworks alternate in one
  process, which slows the JAX step beside them."""
  os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
  try:
    import torch
  except ImportError:
    return None
  return torch


def require_torch(parser):
  """PyTorch (import_torch) for a comparator's command, or its parser's one-line error."""
  torch = import_torch()
  if torch is None:
    parser.error("PyTorch is not installed: pip install -e '.[bench]'")
  return torch


def torch_split(torch, split):
  """An (images N x H x W x C, labels) split of the project's data as PyTorch takes it: images
  N x C x H x W (contiguous), labels int64."""
  images, labels = split
  return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels).long()


def cpu_model() -> str:
  """The CPU's model name (from /proc/cpuinfo; the platform's name elsewhere): timings are of
  one machine, and the 2-core machines this project runs on are not all the same CPU."""
  import platform

  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()
