"""Test-wide settings: the tests never write JAX's compilation cache or any other cache into
the home folder, and an unexpected error in the CLI shows its traceback (HW2_JAX_TRACEBACK).

The tests share one JAX compilation cache, a fresh folder per `pytest` run (the xdist workers
and every command a test starts inherit it): the same tiny programs are compiled by many tests
and by the processes they start (a run, then its resume), and a program loaded from the cache
is the one compiled. This cut the CPU time of two real-process GPT tests from 97 s to 57 s.
"""

import os
import tempfile

os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="hw2_jax_test_cache_"))
os.environ.setdefault("HW2_JAX_TRACEBACK", "1")

from hw2_jax.core import compile_cache  # noqa: E402  (after the cache folder is chosen)

compile_cache.enable()  # this process too: the tests that call the jitted code directly
