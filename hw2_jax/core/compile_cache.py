"""JAX's persistent compilation cache, turned on by the `python -m hw2_jax` entry point.

Every process compiles its programs anew: about 5 s per padding-study configuration on the
2-core CPU, and on a GPU most of the study's time (XLA autotunes each new GEMM shape: README,
"GPU and TPU"). With the cache, a rerun or a `--resume` after an interruption loads them from
disk (`padding-study --rounds 2 --epochs 2 --nets Net1 --conv-types valid fconv` on the 2-core
CPU: 24.9 s, then 14.0 s).

The cache is $JAX_COMPILATION_CACHE_DIR when set, else $XDG_CACHE_HOME/hw2_jax/jax
(~/.cache/hw2_jax/jax); HW2_JAX_NO_COMPILE_CACHE=1 turns it off. JAX keys each entry by the
program, the compile options and the jax/jaxlib versions, so an entry is only reused for the
same computation.
"""

import os
from pathlib import Path

import jax

OPT_OUT = "HW2_JAX_NO_COMPILE_CACHE"


def cache_dir(env) -> Path | None:
  """Where the cache goes for environment `env`, or None when it is turned off."""
  if env.get(OPT_OUT):
    return None
  if env.get("JAX_COMPILATION_CACHE_DIR"):
    return Path(env["JAX_COMPILATION_CACHE_DIR"])
  base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
  return base / "hw2_jax" / "jax"


def enable(env=os.environ) -> Path | None:
  """Turns the cache on for every program compiled from now on; returns its folder."""
  path = cache_dir(env)
  if path is None:
    return None
  jax.config.update("jax_compilation_cache_dir", str(path))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  return path
