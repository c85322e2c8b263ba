"""The errors the CLI turns into one line on stderr (no traceback), each with its exit status."""


class ConfigError(ValueError):
  """Bad user input, refused before any work: the message names the bad value and the fix."""

  exit_status = 2


class RunError(RuntimeError):
  """A run that stopped itself (a non-finite loss, a damaged checkpoint): says what was kept."""

  exit_status = 1


class Interrupted(Exception):
  """Ctrl-C or SIGTERM: the message says what was kept and how to continue."""

  exit_status = 130


def check_choice(name: str, value, choices) -> None:
  if value not in choices:
    raise ConfigError(f"unknown {name} {value!r}; choose from: {', '.join(map(str, choices))}.")


def check_positive(name: str, value, minimum: int = 1) -> None:
  if value < minimum:
    raise ConfigError(f"{name} must be >= {minimum}, got {value}.")


def check_finite(name: str, value) -> None:
  if value != value or value in (float("inf"), float("-inf")):
    raise ConfigError(f"{name} must be a finite number, got {value}.")
