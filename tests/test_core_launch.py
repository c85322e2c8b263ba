"""Multi-process runs, as real local processes: `python -m hw2_jax launch` equals one process with
as many devices, only process 0 writes files, a GPT run resumes on another process count, and
a failing process stops the launch."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from hw2_jax import cli
from hw2_jax.core import launch

ROOT = Path(__file__).parents[1]
PADDING = [
  "padding-study",
  "--seeds",
  "3",
  "--epochs",
  "2",
  "--num-train",
  "200",
  "--num-val",
  "100",
  "--num-test",
  "100",
  "--batch-size",
  "100",
  "--nets",
  "Net1",
  "--conv-types",
  "reflect",
]

# Loaded by every Python process of the test (PYTHONPATH): records which process writes what
# under $WATCH (through Python's audit events), and makes process $FAIL_PROCESS exit with 3.
_SITECUSTOMIZE = textwrap.dedent("""
    import os, sys

    def _process():
      return sys.argv[sys.argv.index("--process-id") + 1] if "--process-id" in sys.argv else None

    if os.environ.get("FAIL_PROCESS") and os.environ["FAIL_PROCESS"] == _process():
      os._exit(3)

    def _hook(event, args):
      watch = os.environ.get("WATCH")
      if not watch or event not in ("open", "os.rename", "os.replace", "os.mkdir", "os.remove"):
        return
      path = str(args[0])
      if event == "open":
        mode, flags = args[1], args[2] or 0
        writing = (mode and any(c in mode for c in "wax+")) or (
            flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if not writing:
          return
      if path.startswith(watch) and _process() is not None:
        with open(os.environ["WRITES"] + "." + _process(), "a") as f:
          f.write(event + " " + path + "\\n")

    sys.addaudithook(_hook)
""")


def _env(tmp_path, devices=None, **extra):
  (tmp_path / "site").mkdir(exist_ok=True)
  (tmp_path / "site" / "sitecustomize.py").write_text(_SITECUSTOMIZE)
  env = dict(
    os.environ,
    JAX_PLATFORMS="cpu",
    PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(ROOT)]),
    **extra,
  )
  return launch.child_env(env, devices) if devices else env


def _hw2_jax(args, env, timeout=300):
  return subprocess.run(
    [sys.executable, "-m", "hw2_jax", *args],
    env=env,
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def test_padding_study_two_processes_equal_one_and_only_process_0_writes(tmp_path):
  two, one = tmp_path / "two", tmp_path / "one"
  r = _hw2_jax(
    ["launch", "--processes", "2", "--devices-per-process", "2", "--", *PADDING, "--out", str(two)],
    _env(tmp_path, WATCH=str(two), WRITES=str(tmp_path / "writes")),
  )
  assert r.returncode == 0, r.stdout + r.stderr
  assert "[0] wrote" in r.stdout and "[1] wrote" not in r.stdout  # process 0 prints
  r = _hw2_jax([*PADDING, "--out", str(one)], _env(tmp_path, devices=4))
  assert r.returncode == 0, r.stdout + r.stderr
  a, b = (json.loads((d / "padding_study.json").read_text()) for d in (one, two))
  assert a["device"] == "4 x cpu (cpu)" and b["device"] == "4 x cpu (cpu, 2 processes)"
  for key in ("val", "test", "epochs"):
    assert a["results"]["Net1"]["reflect"][key] == b["results"]["Net1"]["reflect"][key]
  writes = {i: (tmp_path / f"writes.{i}") for i in (0, 1)}
  assert "padding_study.json" in writes[0].read_text()
  assert not writes[1].exists(), writes[1].read_text()


def test_gpt_two_processes_match_one_and_resume_on_one(tmp_path):
  text = tmp_path / "story.txt"
  words = "the king said to a frog that yesterday I went into the wood with gold".split()
  text.write_text(" ".join(np.random.default_rng(0).choice(words, 800)) + ".\n")
  common = [
    "gpt-train",
    "--txt-file",
    str(text),
    "--model-type",
    "gpt-nano",
    "--n-layer",
    "2",
    "--n-head",
    "2",
    "--n-embd",
    "16",
    "--block-size",
    "16",
    "--train-batch-size",
    "8",
    "--no-progress",
    "--log-every",
    "2",
    "--checkpoint-every",
    "2",
    "--eval-every",
    "2",
    "--eval-iters",
    "2",
    "--generate-every",
    "0",
    "--no-plots",
  ]
  two, one = tmp_path / "two", tmp_path / "one"
  r = _hw2_jax(
    ["launch", "--processes", "2", "--", *common, "--max-steps", "4", "--out", str(two)],
    _env(tmp_path, WATCH=str(two), WRITES=str(tmp_path / "writes")),
  )
  assert r.returncode == 0, r.stdout + r.stderr
  r = _hw2_jax([*common, "--max-steps", "6", "--out", str(one)], _env(tmp_path, devices=2))
  assert r.returncode == 0, r.stdout + r.stderr
  steps = lambda d: [
    (rec["step"], rec["loss"])
    for rec in map(json.loads, (d / "metrics.jsonl").read_text().splitlines())
    if rec["kind"] == "step"
  ]
  assert steps(two) == steps(one)[:4]  # the same global batch: the same losses
  # process 1 wrote nothing but its share of the checkpoints (Orbax, every process takes part)
  other = tmp_path / "writes.1"
  assert not other.exists() or all(
    "/checkpoints/" in line for line in other.read_text().splitlines()
  )
  r = _hw2_jax(
    [*common, "--max-steps", "6", "--out", str(two), "--resume"], _env(tmp_path, devices=1)
  )  # one process, one device
  assert r.returncode == 0, r.stdout + r.stderr
  np.testing.assert_allclose(
    [loss for _, loss in steps(two)], [loss for _, loss in steps(one)], rtol=1e-5
  )


def test_a_failing_process_stops_the_launch(tmp_path):
  start = time.monotonic()
  r = _hw2_jax(
    ["launch", "--processes", "2", "--", *PADDING, "--out", str(tmp_path / "o")],
    _env(tmp_path, FAIL_PROCESS="1"),
    timeout=120,
  )
  assert r.returncode == 3
  assert "process 1 exited with status 3; stopped the other processes" in r.stderr
  assert time.monotonic() - start < 100  # process 0 did not wait for its peer forever


def test_launch_needs_a_command(capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(["launch", "--processes", "2"])
  assert e.value.code == 2 and "needs a command after --" in capsys.readouterr().err


def test_sigterm_to_launch_lets_every_process_save_and_say_so(tmp_path):
  """A scheduler's SIGTERM to `launch`: every process finishes its epoch, the configuration in
  training is saved (a collective save), each says what it kept, and the launch exits 130."""
  out = tmp_path / "out"
  args = [*PADDING[:4], "50", *PADDING[5:], "--checkpoint-every-s", "0", "--out", str(out)]
  proc = subprocess.Popen(
    [sys.executable, "-m", "hw2_jax", "launch", "--processes", "2", "--", *args],
    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    env=dict(os.environ, HW2_JAX_SYSTEM_MALLOC="1"),
  )  # fmt: skip
  saved = out / "checkpoints" / "Net1-reflect"
  deadline = time.monotonic() + 400
  while not (saved.is_dir() and any(p.name.isdigit() for p in saved.iterdir())):
    assert time.monotonic() < deadline and proc.poll() is None
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  said, _ = proc.communicate(timeout=300)
  assert proc.returncode == 130, said
  assert "launch: stopping the 2 running processes; each saves what it has first" in said
  assert "[0] interrupted (SIGTERM)" in said and "saved after epoch" in said, said
  assert any(p.name.isdigit() for p in saved.iterdir())
