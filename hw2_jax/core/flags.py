"""Command-line flags derived from a study's config dataclass: each default is written once.

A field becomes a flag when it has help text (`option(...)`): `--field-name`, typed from the
field's annotation (int, float, str, bool, `X | None`, `tuple[X, ...]`), with the dataclass's
default. `aliases` keeps old flag names working. `from_args` builds the config back from the
parsed flags; validation stays with the config (`Config.validate()`), which starts with
`check(cfg)`: every choice among its choices, every number finite and within its range (an
integer by default in 0..2**31-1, so a huge value is refused before any work instead of
overflowing a device integer later). `to_json(cfg)` is how every study records its config.
"""

import argparse
import dataclasses
import math
import types
import typing

from hw2_jax.core.errors import ConfigError

INT_MAX = 2**31 - 1


def option(
  default, help: str, *, aliases=(), choices=None, metavar=None, low=None, high=None, above=None,
  below=None,
):  # fmt: skip
  """A config field that is also a command-line flag; `low`/`high` bound a number inclusively
  (integers default to 0..INT_MAX), `above`/`below` exclusively."""
  return dataclasses.field(
    default=default,
    metadata={
      "help": help,
      "aliases": tuple(aliases),
      "choices": choices,
      "metavar": metavar,
      "low": low,
      "high": high,
      "above": above,
      "below": below,
    },
  )


def flag_name(field_name: str) -> str:
  return "--" + field_name.replace("_", "-")


def _check_number(name: str, value, meta, low, high) -> None:
  if isinstance(value, float) and not math.isfinite(value):
    raise ConfigError(f"{name} must be a finite number, got {value}.")
  for bound, fails, sign in (
    (low, lambda b: value < b, ">="),
    (high, lambda b: value > b, "<="),
    (meta["above"], lambda b: value <= b, ">"),
    (meta["below"], lambda b: value >= b, "<"),
  ):
    if bound is not None and fails(bound):
      raise ConfigError(f"{name} must be {sign} {bound}, got {value}.")


def check(cfg) -> None:
  """Refuses, in one line naming the flag, a choice outside its choices or a number outside
  its range (each item of a tuple flag too)."""
  hints = typing.get_type_hints(type(cfg))
  for f in dataclasses.fields(cfg):
    if "help" not in f.metadata:
      continue
    value, meta, name = getattr(cfg, f.name), f.metadata, flag_name(f.name)
    items = value if isinstance(value, tuple) else (value,)
    tp = _unwrap_optional(hints[f.name])
    if typing.get_origin(tp) is tuple:
      tp = typing.get_args(tp)[0]
    for v in items:
      if v is None:
        continue
      if meta["choices"] is not None and v not in meta["choices"]:
        raise ConfigError(
          f"unknown {name} {v!r}; choose from: {', '.join(map(str, meta['choices']))}."
        )
      if tp is int and not isinstance(v, bool):
        low = 0 if meta["low"] is None else meta["low"]
        _check_number(name, v, meta, low, INT_MAX if meta["high"] is None else meta["high"])
      elif tp is float:
        _check_number(name, v, meta, meta["low"], meta["high"])


def to_json(cfg, **extra) -> dict:
  """A config as the JSON a run records (tuples as lists), with `extra` keys."""
  d = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
  return {**d, **extra}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
  """Adds "(default: X)" to the help, except where there is no default to show."""

  def _get_help_string(self, action):
    default = action.default
    if (
      default is None
      or default is False
      or default == argparse.SUPPRESS
      or (isinstance(default, (list, tuple)) and not default)
    ):
      return action.help
    if isinstance(default, (list, tuple)):
      return f"{action.help} (default: {' '.join(map(str, default))})"
    return super()._get_help_string(action)


def _unwrap_optional(tp):
  if typing.get_origin(tp) in (typing.Union, types.UnionType):
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) == 1:
      return args[0]
  return tp


def add_flags(parser: argparse.ArgumentParser, cls, skip=()) -> None:
  """Adds a flag for every `option` field of dataclass `cls` (except those named in `skip`)."""
  hints = typing.get_type_hints(cls)
  for f in dataclasses.fields(cls):
    meta = f.metadata
    if "help" not in meta or f.name in skip:
      continue
    names = [flag_name(f.name), *meta["aliases"]]
    kwargs = {"dest": f.name, "help": meta["help"], "default": f.default}
    tp = _unwrap_optional(hints[f.name])
    if tp is bool:
      if f.default is None or f.default is True:
        kwargs["action"] = argparse.BooleanOptionalAction
      else:
        kwargs["action"] = "store_true"
    elif typing.get_origin(tp) is tuple:
      item = typing.get_args(tp)[0]
      kwargs.update(
        nargs="+", type=item, default=list(f.default), metavar={int: "N", float: "X"}.get(item)
      )
    else:
      kwargs.update(type=tp, metavar={int: "N", float: "X"}.get(tp))
    if meta["choices"] is not None:
      kwargs["choices"] = meta["choices"]
    if meta["metavar"] is not None:
      kwargs["metavar"] = meta["metavar"]
    if kwargs.get("metavar") is None:
      kwargs.pop("metavar", None)
    parser.add_argument(*names, **kwargs)


def from_args(cls, args: argparse.Namespace, **overrides):
  """The config of the parsed flags (lists back to tuples); `overrides` set other fields."""
  kwargs = {}
  for f in dataclasses.fields(cls):
    if hasattr(args, f.name) and "help" in f.metadata:
      value = getattr(args, f.name)
      kwargs[f.name] = tuple(value) if isinstance(value, list) else value
  kwargs.update(overrides)
  return cls(**kwargs)
