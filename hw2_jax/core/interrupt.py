"""Ctrl-C and SIGTERM as a request to stop at the next safe point, the same in every command.

A training loop runs inside `stop_requests(what)` and asks `requested()` at its safe points
(after an epoch, or after a device call of several steps), where it saves what it has and
raises `Interrupted` saying what was kept. A device call cannot be cut short, and Python runs
its signal handlers only between calls, so a watcher thread answers the signal at once
("stopping after the current epoch, about 40 s"), using the time the loop said the call would
take (`running(expected_s)`). A second Ctrl-C stops the process at once, losing the work since
the last save.

In a multi-process run the processes must stop at the same point, so there
`requested(sync=True)` asks all of them (a collective) and is called only where every process
calls it at the same step.
"""

import contextlib
import os
import signal
import sys
import threading
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

EXIT_NOW = 130


class StopRequests:
  def __init__(self, what: str):
    self.what = what
    self.signal = None
    self.count = 0
    self._call = (time.monotonic(), 0.0)

  def running(self, expected_s: float) -> None:
    """A device call that should take about `expected_s` seconds starts now."""
    self._call = (time.monotonic(), expected_s)

  def remaining_s(self) -> float:
    start, expected = self._call
    return max(0.0, expected - (time.monotonic() - start))

  def _handle(self, signum, _frame):
    if self.signal is not None:  # the second time, seen between calls: stop now
      raise KeyboardInterrupt
    self.signal = signum

  def _answer(self, signum: int) -> None:
    """Runs in the watcher thread the moment a signal arrives."""
    self.count += 1
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    if self.count == 1:
      left = self.remaining_s()
      wait = "" if not self._call[1] else f" (about {left:.0f} s)" if left >= 1 else " (under 1 s)"
      print(
        f"\n{name}: stopping after {self.what}{wait} and saving; press Ctrl-C again to stop "
        "at once (losing the work since the last save).",
        file=sys.stderr,
        flush=True,
      )
    else:
      print(f"\n{name} again: stopped at once.", file=sys.stderr, flush=True)
      os._exit(EXIT_NOW)

  def requested(self, sync: bool = False) -> bool:
    """Whether a stop was asked for (with `sync`: by any process of the run)."""
    if jax.process_count() == 1:
      return self.signal is not None
    if not sync:
      return False
    flags = multihost_utils.process_allgather(np.asarray(self.signal is not None))
    return bool(np.any(flags))

  @property
  def name(self) -> str:
    return "SIGTERM" if self.signal == signal.SIGTERM else "Ctrl-C"


def _watch(read_fd: int, requests: StopRequests) -> None:
  while True:
    try:
      data = os.read(read_fd, 16)
    except OSError:
      return
    if not data:
      return
    for signum in data:
      if signum in (signal.SIGINT, signal.SIGTERM):
        requests._answer(signum)


@contextlib.contextmanager
def _watcher(requests: StopRequests):
  """A thread told of every signal by the C-level handler (signal.set_wakeup_fd)."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  read_fd, write_fd = os.pipe()
  os.set_blocking(write_fd, False)
  previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
  thread = threading.Thread(target=_watch, args=(read_fd, requests), daemon=True)
  thread.start()
  try:
    yield
  finally:
    signal.set_wakeup_fd(previous)
    os.close(write_fd)
    thread.join(timeout=1)
    os.close(read_fd)


@contextlib.contextmanager
def stop_requests(what: str = "the current step"):
  """Within the block, SIGINT and SIGTERM set a flag (see `StopRequests.requested`)."""
  requests = StopRequests(what)
  handler = requests._handle
  previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    with _watcher(requests):
      yield requests
  finally:
    for s, old in previous.items():
      signal.signal(s, old)
