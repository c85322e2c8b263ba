"""Test-wide settings: the tests never write JAX's compilation cache or any other cache into
the home folder, and an unexpected error in the CLI shows its traceback (HW2_JAX_TRACEBACK).

The tests share one JAX compilation cache, a fresh folder per `pytest` run (the xdist workers
and every command a test starts inherit it): the same tiny programs are compiled by many tests
and by the processes they start (a run, then its resume), and a program loaded from the cache
is the one compiled. This cut the CPU time of two real-process GPT tests from 97 s to 57 s.

The tests compile with LLVM's optimisation level 2 instead of XLA's default 3
(`--xla_backend_optimization_level`, in XLA_FLAGS, which the commands the tests start inherit;
a test that sets a device count appends it). Compiling is half the suite's CPU time and level
2 compiles the tiny GPT step in 1.7 s instead of 2.4 s; the programs, and so everything a test
compares (one run against another, against a reference), are the same; the last bits of a
float may differ from a default build's, which no test pins. Set HW2_JAX_TEST_XLA_DEFAULT=1 to
test with XLA's defaults.
"""

import os
import tempfile
import types

import pytest

os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="hw2_jax_test_cache_"))
os.environ.setdefault("HW2_JAX_TRACEBACK", "1")
if not os.environ.get("HW2_JAX_TEST_XLA_DEFAULT") and "optimization_level" not in os.environ.get(
  "XLA_FLAGS", ""
):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=2"

from hw2_jax.core import compile_cache  # noqa: E402  (after the cache folder is chosen)

compile_cache.enable()  # this process too: the tests that call the jitted code directly


@pytest.fixture
def record_managers(monkeypatch):
  """Call it to record, from then on, every core.checkpoint manager made (`made`), those
  closed (`closed`), and a "manager" entry per one made in `events`, which a test may share
  with other events it records to check their order."""

  def start():
    from hw2_jax.core import checkpoint

    record = types.SimpleNamespace(made=[], closed=[], events=[])
    real_manager = checkpoint.manager

    def manager(*args, **kwargs):
      record.events.append("manager")
      record.made.append(real_manager(*args, **kwargs))
      m = record.made[-1]
      monkeypatch.setattr(m, "close", lambda m=m: record.closed.append(m) or type(m).close(m))
      return m

    monkeypatch.setattr(checkpoint, "manager", manager)
    return record

  return start
