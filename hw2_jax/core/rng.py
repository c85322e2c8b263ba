"""Named random streams: every use of randomness draws from its own stream of the run's key.

`stream(key, "shuffle")` is `fold_in(key, id)` with a fixed id made from the name (CRC-32), so
streams never collide (as bare integers and `seed + 1` arithmetic could) and adding a stream
does not move the others.
"""

import zlib

import jax


def stream(key: jax.Array, name: str) -> jax.Array:
  """The key of the stream called `name` under `key`."""
  return jax.random.fold_in(key, zlib.crc32(name.encode()))


def root(seed: int) -> jax.Array:
  """The run's key for `seed` (a typed `jax.random.key`)."""
  return jax.random.key(seed)
