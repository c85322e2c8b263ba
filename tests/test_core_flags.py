"""core/flags.check on a config of its own: which numbers each kind of bound lets through, at the
bound itself and just past it (the commands' own flags are tested in test_*_cli.py)."""

import argparse
import dataclasses

import pytest

from hw2_jax.core import flags
from hw2_jax.core.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Bounded:
  count: int = flags.option(2, "inclusive bounds", low=1, high=3)
  rate: float = flags.option(0.5, "exclusive bounds", above=0.0, below=1.0)
  steps: int = flags.option(5, "an integer's default range, 0..INT_MAX")
  sizes: tuple[int, ...] = flags.option((1, 2), "every item checked", low=1)


def _refused(message: str, **values) -> None:
  with pytest.raises(ConfigError) as e:
    flags.check(Bounded(**values))
  assert str(e.value) == message


def test_low_and_high_include_the_bound_above_and_below_exclude_it():
  for values in ({"count": 1}, {"count": 3}, {"rate": 1e-9}, {"rate": 1 - 1e-9}):
    flags.check(Bounded(**values))
  _refused("--count must be >= 1, got 0.", count=0)
  _refused("--count must be <= 3, got 4.", count=4)
  _refused("--rate must be > 0.0, got 0.0.", rate=0.0)
  _refused("--rate must be < 1.0, got 1.0.", rate=1.0)


def test_an_integer_without_bounds_is_refused_below_zero_and_past_what_int32_holds():
  """JAX's integers are 32-bit: a step count or seed past 2**31 - 1 would wrap."""
  flags.check(Bounded(steps=0))
  flags.check(Bounded(steps=2_147_483_647))
  _refused("--steps must be >= 0, got -1.", steps=-1)
  _refused("--steps must be <= 2147483647, got 2147483648.", steps=2_147_483_648)


def test_a_value_outside_the_choices_is_refused_with_them():
  @dataclasses.dataclass(frozen=True)
  class Chosen:
    kinds: tuple[str, ...] = flags.option(("a",), "which", choices=("a", "b"))

  flags.check(Chosen(kinds=("b", "a")))
  with pytest.raises(ConfigError) as e:
    flags.check(Chosen(kinds=("a", "c")))
  assert str(e.value) == "unknown --kinds 'c'; choose from: a, b."


def test_each_item_of_a_tuple_flag_is_checked():
  flags.check(Bounded(sizes=(1, 5, 9)))
  _refused("--sizes must be >= 1, got 0.", sizes=(3, 0))


@dataclasses.dataclass(frozen=True)
class Shown:
  count: int = flags.option(2, "how many")
  quiet: bool = flags.option(False, "say less")
  loud: bool = flags.option(True, "say more")
  out: str | None = flags.option(None, "where to")
  sizes: tuple[int, ...] = flags.option((1, 2), "which sizes")
  none: tuple[int, ...] = flags.option((), "which others")
  names: tuple[str, ...] = flags.option(("a",), "which names", metavar="NAME")


def test_help_shows_each_default_once_and_none_where_there_is_nothing_to_show():
  """A number's and a list's default (space-separated, as typed), an on-by-default switch's;
  nothing for an off switch, an unset value or an empty list."""
  parser = argparse.ArgumentParser(formatter_class=flags.HelpFormatter)
  flags.add_flags(parser, Shown)
  text = " ".join(parser.format_help().split())
  assert "how many (default: 2)" in text
  assert "--count N " in text and "--sizes N [N ...]" in text  # numbers' placeholders, lists too
  assert "--names NAME [NAME ...]" in text  # a placeholder of its own
  assert "which sizes (default: 1 2)" in text
  assert text.count("say more (default: True)") == 1 and text.count("(default: True)") == 1
  for help_text in ("say less", "where to", "which others"):
    assert f"{help_text} (default" not in text and help_text in text


def test_a_switch_on_by_default_can_be_turned_off_and_one_off_by_default_only_on():
  parser = argparse.ArgumentParser()
  flags.add_flags(parser, Shown)
  args = parser.parse_args(["--quiet", "--no-loud", "--sizes", "3", "4", "--count", "7"])
  assert flags.from_args(Shown, args) == Shown(count=7, quiet=True, loud=False, sizes=(3, 4))
  assert flags.from_args(Shown, parser.parse_args([])) == Shown()
  with pytest.raises(SystemExit):
    parser.parse_args(["--no-quiet"])


def test_a_skipped_flag_keeps_its_default_and_overrides_set_fields():
  """A command may leave a field out of its flags (`skip`) and set it itself (`overrides`)."""
  parser = argparse.ArgumentParser()
  flags.add_flags(parser, Shown, skip=("count",))
  args = parser.parse_args(["--quiet"])
  assert not hasattr(args, "count")
  assert flags.from_args(Shown, args) == Shown(quiet=True)
  assert flags.from_args(Shown, args, count=9, out="x") == Shown(count=9, quiet=True, out="x")
