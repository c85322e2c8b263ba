"""JAX's persistent compilation cache, turned on by every entry point (core/startup.py).

Every process compiles its programs anew: seconds per padding-study configuration on a CPU,
and on a GPU most of the study's time (XLA autotunes each new GEMM shape). With the cache, a
rerun or a resumed run loads them from disk (measured in docs/performance.md).

The cache is $JAX_COMPILATION_CACHE_DIR when set, else $XDG_CACHE_HOME/hw2_jax/jax
(~/.cache/hw2_jax/jax); HW2_JAX_NO_COMPILE_CACHE=1 turns it off. JAX keys each entry by the
program, the compile options and the jax/jaxlib versions, so an entry is only reused for the
same computation.
"""

import os
from pathlib import Path

import jax

from hw2_jax.core import io

OPT_OUT = "HW2_JAX_NO_COMPILE_CACHE"


def cache_dir(env) -> Path | None:
  """Where the cache goes for environment `env`, or None when it is turned off."""
  if env.get(OPT_OUT):
    return None
  if env.get("JAX_COMPILATION_CACHE_DIR"):
    return Path(env["JAX_COMPILATION_CACHE_DIR"])
  return io.cache_dir(env) / "jax"


def enable(env=os.environ) -> Path | None:
  """Turns the cache on for every program compiled from now on; returns its folder."""
  path = cache_dir(env)
  if path is None:
    return None
  jax.config.update("jax_compilation_cache_dir", str(path))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  return path


class Compiles:
  """How many XLA programs were built since `start()` (compiled, or loaded from the cache) and
  the seconds that took, from JAX's monitoring events. One listener for the process."""

  programs, seconds, cache_hits = 0, 0.0, 0
  _listening = False

  @classmethod
  def _on_duration(cls, event: str, duration: float, **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
      cls.programs += 1
      cls.seconds += duration

  @classmethod
  def _on_event(cls, event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
      cls.cache_hits += 1

  @classmethod
  def start(cls) -> tuple:
    if not cls._listening:
      jax.monitoring.register_event_duration_secs_listener(cls._on_duration)
      jax.monitoring.register_event_listener(cls._on_event)
      cls._listening = True
    return cls.programs, cls.seconds, cls.cache_hits

  @classmethod
  def since(cls, start: tuple) -> dict:
    programs, seconds, hits = start
    return {
      "programs": cls.programs - programs,
      "seconds": round(cls.seconds - seconds, 1),
      "from_cache": cls.cache_hits - hits,
    }
