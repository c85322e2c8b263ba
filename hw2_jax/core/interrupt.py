"""Ctrl-C and SIGTERM as a request to stop at the next safe point, not an exception anywhere.

A training loop that can stop cleanly (finish the step, save a checkpoint) runs inside
`stop_requests()` and asks `requested()` between steps; a save in progress is never cut off. A
second Ctrl-C stops at once. In a multi-process run the processes must stop at the same step,
so there `requested(sync=True)` asks all of them (a collective) and is called only where every
process calls it at the same step.
"""

import contextlib
import signal

import jax
import numpy as np
from jax.experimental import multihost_utils


class StopRequests:
  def __init__(self):
    self.signal = None

  def _handle(self, signum, _frame):
    if self.signal is not None:  # the second time: stop now
      raise KeyboardInterrupt
    self.signal = signum

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


@contextlib.contextmanager
def stop_requests():
  """Within the block, SIGINT and SIGTERM set a flag (see `StopRequests.requested`)."""
  requests = StopRequests()
  previous = {s: signal.signal(s, requests._handle) for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield requests
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
