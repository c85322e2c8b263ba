"""Test-wide settings: the tests never write JAX's compilation cache into the home folder."""

import os

os.environ.setdefault("HW2_JAX_NO_COMPILE_CACHE", "1")
