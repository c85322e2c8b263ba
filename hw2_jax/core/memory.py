"""Refusing sizes that cannot fit, before any work: a rough estimate against the device's memory.

Every study estimates the bytes one device needs with the same `estimate` (the models on the
device, each with its parameter copies, and the float32 activations one step keeps for its
backward pass, plus the data every device holds); `check_fits` compares that with what one
device has (a GPU's or TPU's memory; on the CPU the machine's RAM) and refuses with one line
when the estimate is more than that. The estimates are within a small factor, not exact: they
catch a `--seeds 100000` or a batch a thousand times too large, not the last gigabyte.
"""

import os

import jax

from hw2_jax.core.errors import ConfigError

GB = 1024**3


def estimate(
  *, params: int, copies: int, activations: float, models: int = 1, data_bytes: float = 0
) -> float:
  """Bytes one device needs for `models` models of `params` float32 parameters each, kept in
  `copies` copies (parameters, gradients, optimizer moments, ...), and `activations` float32
  values per model for one step, plus `data_bytes`."""
  return 4.0 * models * (params * copies + activations) + data_bytes


def compiled_bytes(compiled) -> int:
  """What XLA's memory analysis of a compiled program counts on its device: arguments,
  temporary buffers and the outputs not aliased to donated arguments (the reference the
  studies' estimates are tested against)."""
  m = compiled.memory_analysis()
  return (
    m.argument_size_in_bytes + m.temp_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
  )


def device_bytes() -> int:
  """Memory of one device: bytes_limit of a GPU/TPU, the machine's RAM for the CPU."""
  device = jax.devices()[0]
  if device.platform != "cpu":
    stats = device.memory_stats() or {}
    if stats.get("bytes_limit"):
      return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(need_bytes: float, what: str, fix: str) -> None:
  """Refuses when `need_bytes` (for one device) is more than a device has."""
  have = device_bytes()
  if jax.devices()[0].platform == "cpu":  # host devices share the machine's memory
    need_bytes *= jax.local_device_count()
  if need_bytes > have:
    raise ConfigError(
      f"{what} needs about {need_bytes / GB:,.0f} GB per device, more than the "
      f"{have / GB:,.0f} GB a device has; {fix}."
    )
