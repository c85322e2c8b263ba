"""Meshes over every local device: seeds (or batches) are split along one axis."""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def local_mesh(axis: str = "batch") -> Mesh:
  return Mesh(np.array(jax.local_devices()), (axis,))


def leading_axis_sharding(mesh: Mesh, size: int) -> NamedSharding:
  """Splits a leading axis of `size` over the mesh, or replicates when it doesn't divide."""
  axis = mesh.axis_names[0]
  if size % mesh.devices.size == 0:
    return NamedSharding(mesh, P(axis))
  return NamedSharding(mesh, P())


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def describe() -> str:
  devs = jax.local_devices()
  kinds = sorted({d.device_kind for d in devs})
  return f"{len(devs)} x {', '.join(kinds)} ({jax.default_backend()})"
