"""glibc malloc settings that keep XLA:CPU's large temporaries in reused, already-mapped memory.

XLA:CPU allocates every large temporary of a step afresh. glibc serves each allocation above
32 MB with its own mmap and unmaps it on free, so every training step of the padding study
touched fresh pages: about 60,000 page faults per Net1 step, 45% of the step in the kernel,
and a 75 MB elementwise op took 29-47 ms instead of 3-7 ms. These tunables make glibc serve
all allocations from one heap it never shrinks, so after the first steps no page is faulted
again: Net1 fconv went from about 235 to 160 ms per step on the project's 2-core machine
(docs/performance.md). The price is that the process keeps its peak memory.

They only take effect at process start, so the command-line entry points re-execute
themselves once with them set (`reexec_with_tuned_malloc`). Set HW2_JAX_SYSTEM_MALLOC=1 to
opt out; a GLIBC_TUNABLES you set yourself is kept, and ours only fill in what it lacks.
"""

import os
import platform
import sys

TUNABLES = {
  "glibc.malloc.arena_max": "1",  # one heap for all threads
  "glibc.malloc.mmap_max": "0",  # never a private mmap per block
  "glibc.malloc.trim_threshold": str(16 * 1024**3),  # never give freed pages back
}
OPT_OUT = "HW2_JAX_SYSTEM_MALLOC"


def tuned_env(env: dict) -> dict | None:
  """`env` with TUNABLES merged into GLIBC_TUNABLES, or None when nothing is missing."""
  current = env.get("GLIBC_TUNABLES", "")
  have = {item.split("=", 1)[0] for item in current.split(":") if "=" in item}
  missing = [f"{k}={v}" for k, v in TUNABLES.items() if k not in have]
  if not missing:
    return None
  return {**env, "GLIBC_TUNABLES": ":".join(([current] if current else []) + missing)}


def reexec_with_tuned_malloc(module: str) -> None:
  """Re-executes `python -m module <same args>` once with TUNABLES; returns where not needed.

  A no-op off glibc Linux, when opted out, or when the tunables are already set (as they are
  in the re-executed process, so this never loops). Call it first thing in `__main__`.
  """
  if (
    not sys.platform.startswith("linux")
    or platform.libc_ver()[0] != "glibc"
    or os.environ.get(OPT_OUT)
  ):
    return
  env = tuned_env(dict(os.environ))
  if env is not None:
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)


if __name__ == "__main__":
  # `python -m hw2_jax.core.host_memory`: prints the settings this process runs with.
  reexec_with_tuned_malloc("hw2_jax.core.host_memory")
  print(os.environ.get("GLIBC_TUNABLES", ""))
