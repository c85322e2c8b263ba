"""How every entry point starts: `python -m hw2_jax`, `python -m experiments.*`, benchmarks.

1. `reexec(module)`, first thing in a `__main__`: the glibc malloc settings (host_memory.py),
   which only take effect at process start.
2. `init(args)`, after the flags are parsed and before any device is touched: JAX's
   persistent compilation cache (compile_cache.py), multi-process JAX when asked for
   (`--distributed`, or `--coordinator-address/--num-processes/--process-id`), SIGTERM handled
   as Ctrl-C (what schedulers and preemptible TPU VMs send), and in a multi-process run every
   process but 0 silent on stdout (process 0 writes the files and prints; errors still reach
   stderr from every process).
"""

import argparse
import importlib.util
import os
import signal
import sys

from hw2_jax.core import compile_cache, host_memory
from hw2_jax.core.errors import ConfigError


def reexec(module: str) -> None:
  """Re-executes `python -m module` once with the malloc settings (a no-op where not needed)."""
  host_memory.reexec_with_tuned_malloc(module)


def add_flags(parser: argparse.ArgumentParser) -> None:
  """The top-level flags of a multi-process run (JAX's multi-controller model)."""
  g = parser.add_argument_group(
    "multi-process runs",
    "One process per host (Cloud TPU VM worker, SLURM task), all with "
    "the same command; see docs/multi-host.md. Without these flags a run is one process.",
  )
  g.add_argument(
    "--distributed",
    action="store_true",
    help="call jax.distributed.initialize() and let JAX detect the cluster "
    "(Cloud TPU, SLURM, Open MPI, Kubernetes)",
  )
  g.add_argument(
    "--coordinator-address",
    metavar="HOST:PORT",
    help="process 0's address, for a cluster JAX cannot detect",
  )
  g.add_argument("--num-processes", type=int, metavar="N", help="with --coordinator-address")
  g.add_argument("--process-id", type=int, metavar="I", help="with --coordinator-address")


def _distributed_kwargs(args) -> dict | None:
  explicit = (args.coordinator_address, args.num_processes, args.process_id)
  if all(v is None for v in explicit):
    return {} if args.distributed else None
  if any(v is None for v in explicit):
    raise ConfigError(
      "--coordinator-address, --num-processes and --process-id go together; "
      "pass all three, or --distributed to let JAX detect the cluster."
    )
  if not 0 <= args.process_id < args.num_processes:
    raise ConfigError(
      f"--process-id must be in 0..{args.num_processes - 1} for "
      f"--num-processes {args.num_processes}, got {args.process_id}."
    )
  return {
    "coordinator_address": args.coordinator_address,
    "num_processes": args.num_processes,
    "process_id": args.process_id,
  }


def init(args=None) -> None:
  """Compilation cache, multi-process JAX and signals; call once, before any device is used."""
  kwargs = _distributed_kwargs(args) if args is not None else None
  compile_cache.enable()
  signal.signal(signal.SIGTERM, signal.default_int_handler)
  import jax

  if kwargs is not None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes
    jax.distributed.initialize(**kwargs)
    if jax.process_index() != 0:
      sys.stdout = open(os.devnull, "w", encoding="utf-8")
  check_platform(os.environ.get("JAX_PLATFORMS", ""))


# Where the accelerator builds of JAX come from (docs/accelerators.md).
_INSTALL = (
  "pip install -U 'jax[cuda13]' for an NVIDIA GPU, or 'jax[tpu]' on a Cloud TPU VM "
  "(docs/accelerators.md)"
)


def _installed_platforms() -> list[str]:
  found = ["cpu"]
  for module, platform in (
    ("jax_cuda13_plugin", "cuda"),
    ("jax_cuda12_plugin", "cuda"),
    ("libtpu", "tpu"),
    ("jax_rocm60_plugin", "rocm"),
  ):
    if importlib.util.find_spec(module) is not None and platform not in found:
      found.append(platform)
  return found


def check_platform(asked: str) -> None:
  """Starts JAX's backend now, so that a JAX_PLATFORMS it cannot start is one line naming what
  was asked for, what this installation has, and how to install the rest."""
  import jax

  try:
    jax.devices()
  except (RuntimeError, AssertionError, ValueError) as e:
    reason = (str(e).splitlines() or [type(e).__name__])[0][:160] or type(e).__name__
    raise ConfigError(
      f"JAX_PLATFORMS={asked!r} asks for a platform this JAX cannot start ({reason}); this "
      f"installation has: {', '.join(_installed_platforms())}. Unset JAX_PLATFORMS to use "
      f"those, or install the accelerator build: {_INSTALL}."
    ) from None
