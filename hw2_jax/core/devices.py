"""Meshes over every device of every process, and moving data on and off them.

In a multi-process run (core/startup.py) `jax.devices()` lists the devices of all processes;
a mesh over them is global, every process runs the same jitted programs on it, and an array
may have shards this process cannot read. `put` places host data that every process holds
alike; `fetch` brings a result back to every process, gathering shards across processes only
when it has to.
"""

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def mesh(axis: str = "batch") -> Mesh:
  """A one-axis mesh over every device of every process."""
  return Mesh(np.array(jax.devices()), (axis,))


def leading_axis_sharding(m: Mesh, size: int) -> NamedSharding:
  """Splits a leading axis of `size` over the mesh, or replicates when it doesn't divide."""
  if size % m.devices.size == 0:
    return NamedSharding(m, P(m.axis_names[0]))
  return NamedSharding(m, P())


def replicated(m: Mesh) -> NamedSharding:
  return NamedSharding(m, P())


def put(tree, sharding):
  """Places host arrays (the same on every process) on the devices as `sharding` says."""
  return jax.tree.map(lambda a: jax.device_put(a, sharding), tree)


def fetch(tree):
  """Device arrays as numpy on this process, gathered from the other processes if needed."""

  def one(a):
    if isinstance(a, jax.Array) and not a.is_fully_addressable and not a.is_fully_replicated:
      return np.asarray(multihost_utils.process_allgather(a, tiled=True))
    return np.asarray(a)

  return jax.tree.map(one, tree)


def padded_size(n: int, m: Mesh) -> int:
  """`n` rounded up to a multiple of the mesh's device count (extra seeds are dropped later)."""
  return n + (-n % m.devices.size)


def is_main_process() -> bool:
  """Process 0 writes the files, prints and draws the progress bars."""
  return jax.process_index() == 0


def describe() -> str:
  devs = jax.devices()
  kinds = sorted({d.device_kind for d in devs})
  procs = f", {jax.process_count()} processes" if jax.process_count() > 1 else ""
  return f"{len(devs)} x {', '.join(kinds)} ({jax.default_backend()}{procs})"


def barrier(name: str) -> None:
  """Waits until every process of the run gets here (nothing to wait for in one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)
