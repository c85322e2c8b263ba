"""The one error type the CLI turns into a one-line message (no traceback)."""


class ConfigError(ValueError):
  """Bad user input: the message names the bad value and how to fix it."""


def check_choice(name: str, value, choices) -> None:
  if value not in choices:
    raise ConfigError(
        f"unknown {name} {value!r}; choose from: {', '.join(map(str, choices))}.")


def check_positive(name: str, value, minimum: int = 1) -> None:
  if value < minimum:
    raise ConfigError(f"{name} must be >= {minimum}, got {value}.")
