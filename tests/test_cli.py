"""The command line: every error a user can meet is one line on stderr with its exit status,
an unexpected one names the file its traceback was written to, and a platform JAX cannot
start is named with the ways out."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw2_jax import cli
from hw2_jax.padding import study

ROOT = Path(__file__).parents[1]


def test_an_unexpected_error_is_one_line_naming_its_traceback(tmp_path, capsys, monkeypatch):
  monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

  def broken(cfg, **_):
    raise ValueError("a bug\nwith a second line")

  monkeypatch.setattr(study, "train_and_evaluate", broken)
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", "--out", str(tmp_path / "o")])
  err = capsys.readouterr().err
  assert e.value.code == 1 and err.count("\n") == 1, err
  assert err.startswith("error: internal error (ValueError: a bug); the full traceback is in ")
  (path,) = (tmp_path / "cache" / "hw2_jax" / "errors").iterdir()
  assert str(path) in err and "Traceback" in path.read_text() and "broken" in path.read_text()


def test_an_os_error_is_one_line(tmp_path, capsys, monkeypatch):
  monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)

  def full(cfg, **_):
    raise OSError(28, "No space left on device", str(tmp_path / "x"))

  monkeypatch.setattr(study, "train_and_evaluate", full)
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", "--out", str(tmp_path / "o")])
  err = capsys.readouterr().err
  assert e.value.code == 1 and err == f"error: No space left on device: {tmp_path / 'x'}\n"


def test_argument_errors_are_one_line(capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", "--epochs", "ten"])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.count("\n") == 1
  assert "argument --epochs: invalid int value: 'ten'" in err and "--help" in err


@pytest.mark.parametrize("platform", ["cuda", "tpu"])
def test_a_platform_jax_cannot_start_is_one_line_with_the_ways_out(platform):
  r = subprocess.run(
    [sys.executable, "-m", "hw2_jax", "padding-study", "--seeds", "1"],
    cwd=ROOT, capture_output=True, text=True, timeout=300,
    env=dict(os.environ, JAX_PLATFORMS=platform, HW2_JAX_SYSTEM_MALLOC="1"),
  )  # fmt: skip
  assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
  for said in (f"JAX_PLATFORMS='{platform}'", "this installation has: cpu", "jax[cuda13]"):
    assert said in r.stderr, r.stderr
