"""`python -m hw2_jax launch --processes N --devices-per-process D -- <command> [flags]`.

Runs one command as N local JAX processes on the CPU, the way a Cloud TPU pod slice or a SLURM
job runs it on N hosts: each process gets D host devices, a shared coordinator on a free local
port and CPU collectives (gloo), so the program sees one mesh of N x D devices. Each line of
output is prefixed with its process id. If a process fails, the others are stopped and the
launch exits with the failed process's status.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from hw2_jax.core.errors import ConfigError, check_positive

_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def register(subparsers) -> None:
  p = subparsers.add_parser(
    "launch",
    help="run a command as several local JAX processes (tries multi-host runs on one machine)",
    description=__doc__.split("\n\n", 1)[1],
    formatter_class=argparse.RawDescriptionHelpFormatter,
    usage="python -m hw2_jax launch [--processes N] [--devices-per-process D] -- <command> [flags]",
  )
  p.add_argument(
    "--processes", type=int, default=2, metavar="N", help="local processes (default: 2)"
  )
  p.add_argument(
    "--devices-per-process",
    type=int,
    default=1,
    metavar="D",
    help="CPU devices each process sees (default: 1)",
  )
  p.add_argument("command", nargs=argparse.REMAINDER, help="the hw2_jax command and its flags")
  p.set_defaults(func=run)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def child_env(env: dict, devices: int) -> dict:
  """`env` for one CPU process with `devices` host devices (any earlier count replaced)."""
  flags = re.sub(rf"{_DEVICE_COUNT_FLAG}=\S+", "", env.get("XLA_FLAGS", "")).split()
  return {
    **env,
    "JAX_PLATFORMS": "cpu",
    "PYTHONUNBUFFERED": "1",
    "XLA_FLAGS": " ".join([*flags, f"{_DEVICE_COUNT_FLAG}={devices}"]),
  }


def _relay(i: int, stream, out, lock) -> None:
  """Copies a child's output to `out`, each line (or progress-bar update) prefixed `[i] `."""
  pending = b""
  for chunk in iter(lambda: stream.read1(4096), b""):
    pending += chunk
    parts = re.split(rb"(?<=[\r\n])", pending)
    pending = parts.pop()
    with lock:
      for part in parts:
        out.write(f"[{i}] ".encode() + part)
      out.flush()
  if pending:
    with lock:
      out.write(f"[{i}] ".encode() + pending + b"\n")
      out.flush()


def _stop(procs, grace_s: float = 600.0) -> None:
  """SIGTERM to every process still running, which each answers by finishing its epoch or
  device call and saving (their own lines say what was kept); a second Ctrl-C or SIGTERM, or
  `grace_s` seconds, kills them."""
  running = [p for p in procs if p.poll() is None]
  if running:
    print(
      f"launch: stopping the {len(running)} running processes; each saves what it has first "
      "(Ctrl-C again kills them at once).",
      file=sys.stderr,
      flush=True,
    )
  for p in running:
    p.send_signal(signal.SIGTERM)
  deadline = time.monotonic() + grace_s
  try:
    for p in running:
      p.wait(max(0.0, deadline - time.monotonic()))
  except (subprocess.TimeoutExpired, KeyboardInterrupt):
    for p in running:
      if p.poll() is None:
        p.kill()
        p.wait()


def _spawn(command, n: int, devices: int) -> list:
  port, env = free_port(), child_env(dict(os.environ), devices)
  return [
    subprocess.Popen(
      [
        sys.executable,
        "-m",
        "hw2_jax",
        "--coordinator-address",
        f"localhost:{port}",
        "--num-processes",
        str(n),
        "--process-id",
        str(i),
        *command,
      ],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
    )  # fmt: skip
    for i in range(n)
  ]


def _wait(procs) -> tuple[int, int | None]:
  """(exit status, the first failed process or None), stopping the others on a failure or on
  Ctrl-C/SIGTERM."""
  status, failed = 0, None
  try:
    while any(p.poll() is None for p in procs):
      failed = next((i for i, p in enumerate(procs) if p.poll()), None)
      if failed is not None:
        break
      time.sleep(0.1)
    failed = next((i for i, p in enumerate(procs) if p.poll()), failed)
  except KeyboardInterrupt:
    _stop(procs)
    status = 130
  if failed is not None:
    status = procs[failed].returncode
    _stop(procs)
  return status, failed


def run(args) -> None:
  check_positive("--processes", args.processes)
  check_positive("--devices-per-process", args.devices_per_process)
  command = args.command[1:] if args.command[:1] == ["--"] else args.command
  if not command or command[0].startswith("-") or command[0] == "launch":
    raise ConfigError(
      "launch needs a command after --, e.g. `python -m hw2_jax launch "
      "--processes 2 -- padding-study --seeds 4`."
    )
  signal.signal(signal.SIGTERM, signal.default_int_handler)  # a scheduler's stop, as Ctrl-C
  procs = _spawn(command, args.processes, args.devices_per_process)
  lock = threading.Lock()
  relays = [
    threading.Thread(target=_relay, args=(i, p.stdout, sys.stdout.buffer, lock), daemon=True)
    for i, p in enumerate(procs)
  ]
  for t in relays:
    t.start()
  status, failed = _wait(procs)
  for t in relays:
    t.join(timeout=5)
  if failed is not None:
    print(
      f"launch: process {failed} exited with status {status}; stopped the other processes.",
      file=sys.stderr,
    )
    sys.exit(status if status > 0 else 1)
  if status:
    sys.exit(status)
