"""The training log of a run: every step's metrics to metrics.jsonl and TensorBoard (OUT/tb,
when tensorboardX is installed, as `pip install -e .` does).

The jitted steps return their metrics on the device (stacked, one row per step);
`MetricsLog.add` keeps them there and `flush` fetches a window of them at once (every
--log-every steps), so the host waits for the device only then. `flush` also writes the per-epoch means and the tokens/s of the window, and
stops the run with one line when a loss or gradient norm is not finite (the checkpoints are
never written from such a state). Only process 0 writes files.
"""

import json
import math
import time

import numpy as np

from hw2_jax.core import devices, io
from hw2_jax.core.errors import RunError

METRICS_FILE = "metrics.jsonl"


def load_records(path, warn=print) -> list[dict]:
  """The records of a metrics.jsonl (a torn last line, from a killed writer, is skipped)."""
  return io.read_jsonl(path, warn)


class MetricsLog:
  def __init__(self, out, steps_per_epoch: int, tokens_per_step: int, keep_until_step: int | None):
    """Opens OUT/metrics.jsonl; when resuming, keeps the records up to `keep_until_step`."""
    self.path = out / METRICS_FILE
    self.spe, self.tokens_per_step = steps_per_epoch, tokens_per_step
    self.writer = devices.is_main_process()
    self.records = []
    if keep_until_step is not None and self.path.exists():
      # (a partial-epoch record only marks where the interrupted run stopped)
      self.records = [
        r
        for r in load_records(self.path)
        if r["step"] <= keep_until_step and r.get("complete", True)
      ]
    epoch_start = (keep_until_step or 0) // steps_per_epoch * steps_per_epoch
    this_epoch = [r for r in self.records if r["kind"] == "step" and r["step"] > epoch_start]
    self.epoch_sums = [
      sum(r["loss"] for r in this_epoch),
      sum(r["acc"] for r in this_epoch),
      len(this_epoch),
    ]
    self.pending, self.window_losses, self.rates = [], [], []
    self.last_loss = math.nan
    self.t_start = self.t_window = time.perf_counter()
    self.tb = None
    if self.writer:
      self.path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
      try:
        from tensorboardX import SummaryWriter
      except ImportError:  # e.g. a machine's own Python that has JAX but not this project
        print("tensorboardX is not installed: no TensorBoard log in tb/ (metrics.jsonl has "
              "every metric; pip install tensorboardX to have both)")  # fmt: skip
      else:
        self.tb = SummaryWriter(str(out / "tb"), purge_step=keep_until_step)

  def write(self, record: dict) -> None:
    self.records.append(record)
    if not self.writer:
      return
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")
    if self.tb is None:
      return
    kind, step = record["kind"], record["step"]
    for k, v in record.items():
      if isinstance(v, float) and k != "epoch" and math.isfinite(v):
        self.tb.add_scalar(f"{kind}/{k}", v, step)
    if kind == "sample":
      self.tb.add_text("samples", "\n\n---\n\n".join(record["samples"]), step)

  def add(self, metrics) -> None:
    """The stacked metrics of consecutive steps, still on the device."""
    self.pending.append(metrics)

  def restart_clock(self) -> None:
    """Leaves time spent outside training steps (samples, checkpoints) out of tokens/s."""
    self.t_window = time.perf_counter()

  def flush(self, step: int, timed: bool = True) -> None:
    """Fetches and writes the pending steps (the last one is `step`); `timed=False` leaves the
    window out of the tokens/s statistics (the first step, which compiles)."""
    if not self.pending:
      return
    fetched = {
      k: np.concatenate([m[k] for m in devices.fetch(self.pending)]) for k in self.pending[0]
    }
    count = len(fetched["loss"])
    rate = count * self.tokens_per_step / (time.perf_counter() - self.t_window)
    if timed:
      self.rates.append(rate)
    first = step - count + 1
    self.pending = []
    for s, m in enumerate(
      ({k: v[i] for k, v in fetched.items()} for i in range(count)), start=first
    ):
      rec = {
        "kind": "step",
        "step": s,
        "epoch": s / self.spe,
        "loss": float(m["loss"]),
        "acc": float(m["acc"]),
        "lr": float(m["lr"]),
        "grad_norm": float(m["grad_norm"]),
        "tokens_per_s": rate,
        "elapsed_s": time.perf_counter() - self.t_start,
      }
      self.write(rec)
      if not (math.isfinite(rec["loss"]) and math.isfinite(rec["grad_norm"])):
        raise NonFinite(s)
      self.window_losses.append(rec["loss"])
      self.epoch_sums = [
        self.epoch_sums[0] + rec["loss"],
        self.epoch_sums[1] + rec["acc"],
        self.epoch_sums[2] + 1,
      ]
      self.last_loss = rec["loss"]
      if s % self.spe == 0:
        self.end_epoch(s)
    self.t_window = time.perf_counter()

  def end_epoch(self, step: int) -> None:
    """The mean of the epoch's steps so far (a partial epoch when `step` ends the run early)."""
    if not self.epoch_sums[2]:
      return
    self.write(
      {
        "kind": "epoch",
        "step": step,
        "epoch": step / self.spe,
        "complete": step % self.spe == 0,
        "loss": self.epoch_sums[0] / self.epoch_sums[2],
        "acc": self.epoch_sums[1] / self.epoch_sums[2],
      }
    )
    self.epoch_sums = [0.0, 0.0, 0]

  def take_window_loss(self) -> float:
    """The mean training loss since the last call (what a checkpoint is labelled with)."""
    loss = float(np.mean(self.window_losses)) if self.window_losses else math.nan
    self.window_losses = []
    return loss

  def close(self) -> None:
    if self.tb is not None:
      self.tb.close()


class NonFinite(RunError):
  def __init__(self, step: int):
    super().__init__(f"the training loss or gradient became non-finite at step {step}")
    self.step = step
