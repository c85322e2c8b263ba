"""Test-wide settings: the tests never write JAX's compilation cache or any other cache into
the home folder, and an unexpected error in the CLI shows its traceback (HW2_JAX_TRACEBACK)."""

import os
import tempfile

os.environ.setdefault("HW2_JAX_NO_COMPILE_CACHE", "1")
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="hw2_jax_test_cache_"))
os.environ.setdefault("HW2_JAX_TRACEBACK", "1")
