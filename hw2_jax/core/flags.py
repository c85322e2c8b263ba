"""Command-line flags derived from a study's config dataclass: each default is written once.

A field becomes a flag when it has help text (`option(...)`): `--field-name`, typed from the
field's annotation (int, float, str, bool, `X | None`, `tuple[X, ...]`), with the dataclass's
default. `aliases` keeps old flag names working. `from_args` builds the config back from the
parsed flags; validation stays with the config (`Config.validate()`).
"""

import argparse
import dataclasses
import types
import typing


def option(default, help: str, *, aliases=(), choices=None, metavar=None):
  """A config field that is also a command-line flag."""
  return dataclasses.field(
    default=default,
    metadata={"help": help, "aliases": tuple(aliases), "choices": choices, "metavar": metavar},
  )


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
    names = ["--" + f.name.replace("_", "-"), *meta["aliases"]]
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
