"""Where the entry point's compilation cache goes, and how it is turned off."""

from pathlib import Path

from hw2_jax.core import compile_cache


def test_cache_dir_follows_jax_then_xdg_then_home():
  env = {"JAX_COMPILATION_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}
  assert compile_cache.cache_dir(env) == Path("/c")
  assert compile_cache.cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/hw2_jax/jax")
  assert compile_cache.cache_dir({}) == Path.home() / ".cache" / "hw2_jax" / "jax"


def test_opt_out_wins():
  env = {compile_cache.OPT_OUT: "1", "JAX_COMPILATION_CACHE_DIR": "/c"}
  assert compile_cache.cache_dir(env) is None
  assert compile_cache.enable(env) is None
