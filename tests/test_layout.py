"""The shape of the package: every study has the same seven modules with the same roles, no
module passes 300 lines nor any function 60, no study module shares a core module's name, and
every recipe in experiments/ builds a valid config through the real parser and answers --help."""

import ast
import dataclasses
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from hw2_jax import cli
from hw2_jax.core import flags

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "hw2_jax"
STUDIES = ("padding", "rotation", "gpt")
ROLES = ("config", "data", "model", "train", "study", "report", "cli")
RECIPES = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if p.stem != "__init__")
COMMANDS = [r for r in RECIPES if hasattr(importlib.import_module(f"experiments.{r}"), "ARGS")]


def _functions(tree):
  for node in ast.walk(tree):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      yield node


def test_every_study_has_the_seven_modules_and_one_driver():
  for study in STUDIES:
    names = {p.stem for p in (PACKAGE / study).glob("*.py")}
    assert set(ROLES) <= names, (study, set(ROLES) - names)
    driver = importlib.import_module(f"hw2_jax.{study}.study")
    assert callable(driver.train_and_evaluate), study
    config = importlib.import_module(f"hw2_jax.{study}.config")
    assert dataclasses.is_dataclass(config.Config) and isinstance(config.DECIDING, tuple)


def test_no_study_module_shares_a_core_modules_name():
  core = {p.stem for p in (PACKAGE / "core").glob("*.py")} - {"__init__"}
  for study in STUDIES:
    names = {p.stem for p in (PACKAGE / study).glob("*.py")}
    assert not core & names, (study, core & names)


def test_modules_and_functions_stay_short():
  long_modules, long_functions = [], []
  for path in PACKAGE.rglob("*.py"):
    text = path.read_text()
    if text.count("\n") > 300:
      long_modules.append((str(path.relative_to(ROOT)), text.count("\n")))
    for fn in _functions(ast.parse(text)):
      length = fn.end_lineno - fn.lineno + 1
      if length > 60:
        long_functions.append((f"{path.relative_to(ROOT)}:{fn.name}", length))
  assert not long_modules, long_modules
  assert not long_functions, long_functions


@pytest.mark.parametrize("name", COMMANDS)
def test_every_recipe_builds_a_valid_config(name):
  """The recipe's command line through the real parser, and its config validated (with the
  data flags its docstring shows): no training."""
  args = cli.build_parser().parse_args(importlib.import_module(f"experiments.{name}").ARGS)
  module = importlib.import_module(args.func.__module__.rsplit(".", 1)[0] + ".config")
  cfg = flags.from_args(module.Config, args)
  cfg.validate()
  assert cfg.with_out().out.startswith("runs/")  # never results/ unless asked for


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_answers_help(name):
  r = subprocess.run(
    [sys.executable, "-m", f"experiments.{name}", "--help"],
    cwd=ROOT, capture_output=True, text=True, timeout=120,
  )  # fmt: skip
  assert r.returncode == 0 and "usage:" in r.stdout, r.stderr
