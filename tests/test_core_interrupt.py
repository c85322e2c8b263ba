"""Ctrl-C and SIGTERM: answered at once from a watcher thread, while the device call in
progress (which Python cannot interrupt) finishes; the run then saves and stops."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hw2_jax.core import interrupt

ROOT = Path(__file__).parents[1]
TINY = ["--model-type", "gpt-nano", "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
        "--block-size", "16", "--train-batch-size", "8", "--no-progress"]  # fmt: skip


def test_a_stop_is_answered_at_once_and_honoured_after_the_device_call(tmp_path):
  story = tmp_path / "story.txt"
  story.write_text("the king said to a frog that I went into the wood with gold. " * 4000)
  out = tmp_path / "run"
  proc = subprocess.Popen(
    [sys.executable, "-m", "hw2_jax", "gpt-train", *TINY, "--txt-file", str(story), "--out",
     str(out), "--max-steps", "1000000", "--log-every", "3000", "--checkpoint-every", "3000",
     "--eval-every", "1000000", "--generate-every", "0", "--no-plots"],
    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    env=dict(os.environ, HW2_JAX_SYSTEM_MALLOC="1"),
  )  # fmt: skip
  lines = []

  def read():
    for line in proc.stderr:
      lines.append((time.monotonic(), line))

  reader = threading.Thread(target=read, daemon=True)
  reader.start()
  deadline = time.monotonic() + 300
  log = out / "metrics.jsonl"
  while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
    time.sleep(0.05)  # the first call of 3,000 steps is logged; the second is running
  time.sleep(0.5)
  sent = time.monotonic()
  proc.send_signal(signal.SIGINT)
  proc.wait(timeout=600)
  ended = time.monotonic()
  reader.join(timeout=10)
  ack = [(t, s) for t, s in lines if s.startswith("Ctrl-C: stopping after the current device call")]
  assert ack, lines
  assert ack[0][0] - sent < 2.0, ack[0][0] - sent  # answered at once...
  assert ended - ack[0][0] > 0.5  # ...while the call went on
  said = "".join(s for _, s in lines)
  assert proc.returncode == 130, said
  stopped = int(said.split("interrupted (Ctrl-C) at step ")[1].split(":")[0])
  assert stopped % 3000 == 0 and (out / "checkpoints" / "last" / str(stopped)).is_dir()


@pytest.mark.parametrize(
  "expected_s,said", [(30.0, " (about 30 s)"), (0.2, " (under 1 s)"), (None, "")]
)
def test_the_answer_gives_the_wait_left_in_the_epoch(capsys, expected_s, said):
  """The answer names the time the epoch in progress still needs; one that has run past its
  estimate is 'under 1 s', never 'about 0 s'; before any epoch was timed it names no time."""
  requests = interrupt.StopRequests("the current epoch")
  if expected_s is not None:
    requests.running(expected_s)
    time.sleep(0.3 if expected_s < 1 else 0)
  requests._answer(signal.SIGINT)
  err = capsys.readouterr().err
  assert f"Ctrl-C: stopping after the current epoch{said} and saving;" in err, err
