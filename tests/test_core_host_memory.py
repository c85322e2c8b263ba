"""Malloc tunables merge without overriding the user's; the re-exec applies them once."""

import os
import platform
import subprocess
import sys

import pytest

from hw2_jax.core import host_memory


def _items(env):
  return dict(item.split("=", 1) for item in env["GLIBC_TUNABLES"].split(":"))


def test_tuned_env_adds_every_tunable_to_an_empty_environment():
  env = host_memory.tuned_env({"PATH": "/bin"})
  assert env["PATH"] == "/bin"
  assert _items(env) == host_memory.TUNABLES


def test_tuned_env_keeps_the_users_tunables_and_values():
  user = "glibc.malloc.arena_max=4:glibc.pthread.rseq=0"
  env = host_memory.tuned_env({"GLIBC_TUNABLES": user})
  items = _items(env)
  assert env["GLIBC_TUNABLES"].startswith(user)
  assert items["glibc.malloc.arena_max"] == "4"  # the user's value wins
  assert items["glibc.pthread.rseq"] == "0"
  assert items["glibc.malloc.mmap_max"] == "0"


def test_tuned_env_is_none_once_everything_is_set():
  env = host_memory.tuned_env({})
  assert host_memory.tuned_env(env) is None  # the re-executed process stops here


def _run(**extra):
  env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", host_memory.OPT_OUT)}
  out = subprocess.run(
    [sys.executable, "-m", "hw2_jax.core.host_memory"],
    env={**env, **extra},
    capture_output=True,
    text=True,
    check=True,
    timeout=60,
  )
  return out.stdout.strip()


@pytest.mark.skipif(
  not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
  reason="the tunables are glibc's",
)
def test_entry_point_reexecutes_once_with_the_tunables():
  printed = _run()
  assert dict(item.split("=", 1) for item in printed.split(":")) == host_memory.TUNABLES
  assert _run(**{host_memory.OPT_OUT: "1"}) == ""
