"""Output folders: one run at a time (a real second process is refused with the first's pid),
a killed run's lock does not block, and existing results are refused with the three ways out."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw2_jax.core import rundir
from hw2_jax.core.errors import ConfigError

ROOT = Path(__file__).parents[1]


def test_a_second_run_into_a_claimed_folder_is_refused_with_the_owner_pid(tmp_path):
  out = tmp_path / "out"
  with rundir.claim(out):
    r = subprocess.run(
      [
        sys.executable,
        "-m",
        "hw2_jax",
        "padding-study",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(out),
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=120,
      env=dict(os.environ, HW2_JAX_SYSTEM_MALLOC="1"),
    )
  assert r.returncode == 2, r.stderr
  assert f"is in use by another run (process {os.getpid()})" in r.stderr
  assert r.stderr.count("\n") == 1 and not (out / "padding_study.json").exists()
  with rundir.claim(out):  # released when the first run ended
    pass


def test_a_killed_runs_lock_does_not_block(tmp_path):
  out = tmp_path / "out"
  holder = subprocess.Popen(  # takes the lock, then is killed without releasing it
    [
      sys.executable,
      "-c",
      "import sys, time; from hw2_jax.core import rundir\n"
      f"with rundir.claim({str(out)!r}):\n  print('held', flush=True); time.sleep(60)",
    ],
    cwd=ROOT,
    stdout=subprocess.PIPE,
    text=True,
  )
  assert holder.stdout.readline().strip() == "held"
  with pytest.raises(ConfigError, match=f"process {holder.pid}"):
    with rundir.claim(out):
      pass
  holder.kill()
  holder.wait()
  with rundir.claim(out):
    assert (out / rundir.LOCK_NAME).read_text().strip() == str(os.getpid())


def test_refusals_name_resume_overwrite_and_another_out(tmp_path):
  with pytest.raises(ConfigError) as e:
    rundir.refuse_existing(tmp_path, "a study")
  assert all(s in str(e.value) for s in ("--resume", "--overwrite", "another --out"))
  (tmp_path / "padding_step.json").write_text("{}")
  with pytest.raises(ConfigError, match="padding_step.json from an earlier run.*--overwrite"):
    rundir.check_new_files(tmp_path, ["padding_step.json"], overwrite=False)
  rundir.check_new_files(tmp_path, ["padding_step.json"], overwrite=True)


def test_remove_deletes_only_the_named_outputs(tmp_path):
  (tmp_path / "checkpoints" / "plain").mkdir(parents=True)
  (tmp_path / "a.json").write_text("{}")
  (tmp_path / "mine.txt").write_text("keep")
  rundir.remove(tmp_path, ["checkpoints", "a.json", "absent.png"])
  assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
