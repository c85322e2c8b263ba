#!/usr/bin/env python3
"""Mutation testing of hw2_jax: break the code on purpose, one small change at a time, and
check that the tests of the changed module fail.

`make mutation ARGS="--modules padding/train"` (or `python tools/mutation.py ...`). For each
module of `MODULES`:

1. The package and the tests are copied into a scratch folder per worker (`--jobs`); the
   module's mapped tests run once on the unmutated copy, with a line tracer: they must pass,
   their time sets the timeout, and the lines they execute decide which mutants can be caught.
2. The module's source is parsed (`ast`) and every mutation point listed: comparison swaps
   (< <=, > >=, == !=, in / not in, is / is not), arithmetic swaps (+ -, * /, // and % -> /,
   ** -> *, & |, also in augmented assignments), unary minus and `not` removed, `not` put in
   front of if / while / conditional-expression tests, `and` / `or` swapped, constants changed
   (int n -> n + 1, and 1 -> 0 as well; float x -> x + 1; True <-> False), a keyword argument
   dropped from a call (its default then applies), a simple statement
   inside a function replaced by `pass`, `return value` -> `return None`. Docstrings, strings,
   f-strings, type annotations and lines marked `# pragma: no mutate` are left alone. Each
   mutant is spliced into the original text with its line count kept, so tracebacks and
   line-based keys stay valid.
3. Each mutant is written into the worker's copy and the mapped tests run in a fresh process
   (`python -m pytest -x -q -p no:cacheprovider`, PYTHONPATH = the copy, no bytecode files):
   a failing run kills it, a run past the timeout counts as killed (timeout), a passing run
   means it survived. A mutant on a line the tests never execute is reported as "not covered"
   without running (a survivor: no test could see it).

All runs share one JAX persistent compilation cache (JAX_COMPILATION_CACHE_DIR with
JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0), so a program a mutation does not change is
loaded instead of recompiled.

Survivors listed in tools/mutation_equivalents.json (module, original line, mutation, reason)
are reported as equivalent: judged not to change any claimed behaviour. The report is a
markdown file plus a JSON of every mutant (`--out`, default runs/mutation/<time>/).
`--rerun OLD.json` runs only the mutants that survived in an earlier report; `--resume LOG`
continues a run that stopped (its mutation.log): the mutants it logged killed keep that status
and are not run again (its survivors are); `--skip-listed` does not run the listed equivalents
either (a stopped run's survivors, once judged, are not run again on resuming); `--list`
prints the mutants without running anything.
"""

import argparse
import ast
import concurrent.futures
import copy
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.json")


@dataclasses.dataclass(frozen=True)
class Tests:
  files: tuple[str, ...]  # run in this order (fast, precise tests first: -x stops early)
  k: str | None = None  # pytest -k expression, to leave out tests that add nothing here


# Module -> the tests that claim its behaviour (restricted to those, so that a run stays within
# hours on a 2-core CPU): the study modules and the core ones every command relies on.
MODULES = {
  "hw2_jax/padding/train.py": Tests(("tests/test_padding_train.py", "tests/test_padding_cli.py")),
  "hw2_jax/padding/study.py": Tests(("tests/test_padding_study.py", "tests/test_padding_cli.py")),
  "hw2_jax/rotation/train.py": Tests(
    (
      "tests/test_rotation_train.py",
      "tests/test_rotation_model.py",
      "tests/test_rotation_rotate.py",
      "tests/test_rotation_cli.py",
    )
  ),
  "hw2_jax/rotation/rotate.py": Tests(
    ("tests/test_rotation_rotate.py", "tests/test_rotation_train.py")
  ),
  "hw2_jax/gpt/model.py": Tests(("tests/test_gpt_model.py", "tests/test_gpt_generate.py")),
  "hw2_jax/gpt/optimizer.py": Tests(("tests/test_gpt_optimizer.py",)),
  "hw2_jax/gpt/generate.py": Tests(("tests/test_gpt_generate.py",)),
  "hw2_jax/gpt/train.py": Tests(("tests/test_gpt_train.py",)),
  "hw2_jax/gpt/study.py": Tests(("tests/test_gpt_train.py",)),
  "hw2_jax/gpt/checkpoints.py": Tests(("tests/test_gpt_train.py", "tests/test_gpt_generate.py")),
  "hw2_jax/rotation/study.py": Tests(
    ("tests/test_rotation_study.py", "tests/test_rotation_cli.py")
  ),
  "hw2_jax/rotation/model.py": Tests(("tests/test_rotation_model.py",)),
  "hw2_jax/core/rundir.py": Tests(
    ("tests/test_core_rundir.py", "tests/test_padding_cli.py", "tests/test_gpt_train.py")
  ),
  "hw2_jax/core/flags.py": Tests(
    (
      "tests/test_core_flags.py",
      "tests/test_cli.py",
      "tests/test_padding_cli.py",
      "tests/test_rotation_cli.py",
    )
  ),
}

PRAGMA = "pragma: no mutate"
STATUSES = ("killed", "timeout", "survived", "not covered", "equivalent")

# ----------------------------------------------------------------------------------------
# Mutants
# ----------------------------------------------------------------------------------------

CMP_SWAP = {
  ast.Lt: ast.LtE,
  ast.LtE: ast.Lt,
  ast.Gt: ast.GtE,
  ast.GtE: ast.Gt,
  ast.Eq: ast.NotEq,
  ast.NotEq: ast.Eq,
  ast.In: ast.NotIn,
  ast.NotIn: ast.In,
  ast.Is: ast.IsNot,
  ast.IsNot: ast.Is,
}
BIN_SWAP = {
  ast.Add: ast.Sub,
  ast.Sub: ast.Add,
  ast.Mult: ast.Div,
  ast.Div: ast.Mult,
  ast.FloorDiv: ast.Div,
  ast.Mod: ast.Div,
  ast.Pow: ast.Mult,
  ast.BitAnd: ast.BitOr,
  ast.BitOr: ast.BitAnd,
}
SYMBOL = {
  ast.Lt: "<",
  ast.LtE: "<=",
  ast.Gt: ">",
  ast.GtE: ">=",
  ast.Eq: "==",
  ast.NotEq: "!=",
  ast.In: "in",
  ast.NotIn: "not in",
  ast.Is: "is",
  ast.IsNot: "is not",
  ast.Add: "+",
  ast.Sub: "-",
  ast.Mult: "*",
  ast.Div: "/",
  ast.FloorDiv: "//",
  ast.Mod: "%",
  ast.Pow: "**",
  ast.BitAnd: "&",
  ast.BitOr: "|",
  ast.And: "and",
  ast.Or: "or",
}


@dataclasses.dataclass
class Mutant:
  module: str
  index: int
  line: int  # 1-based line of the mutated node
  end_line: int
  col: int
  kind: str  # operator family
  description: str  # e.g. "< -> <="
  original: str  # the source line(s) before
  mutated: str  # the same line(s) after
  source: str = dataclasses.field(repr=False, default="")
  status: str = "pending"  # killed | timeout | survived | not covered | equivalent | invalid
  seconds: float = 0.0
  failed: str = ""  # first failing test of a killed mutant
  reason: str = ""  # why an equivalent survivor is judged equivalent

  @property
  def id(self) -> str:
    return f"{self.module}:{self.line}:{self.col}:{self.kind}"

  @property
  def key(self) -> str:
    return mutant_key(self.module, self.original, self.mutated)

  def record(self) -> dict:
    d = dataclasses.asdict(self)
    d.pop("source")
    d.update(id=self.id, key=self.key)
    return d


def mutant_key(module: str, original: str, mutated: str) -> str:
  """Stable across unrelated edits: the module and the mutated lines before and after."""
  squash = lambda text: " ".join(text.split())
  return f"{module} | {squash(original)} | {squash(mutated)}"


class _Points(ast.NodeVisitor):
  """Collects (node, replacement node or statement text, kind, description)."""

  def __init__(self):
    self.points = []
    self._skip = set()  # ids of nodes not to mutate (docstrings, annotations)
    self._depth_fn = 0  # inside a function body

  # --- helpers ---
  def _add(self, node, new, kind, desc, statement=False):
    self.points.append((node, new, kind, desc, statement))

  def _skip_tree(self, node):
    if node is not None:
      for sub in ast.walk(node):
        self._skip.add(id(sub))

  def visit(self, node):
    if id(node) in self._skip:
      return
    super().visit(node)

  # --- structure ---
  def _body_docstring(self, body):
    if (
      body
      and isinstance(body[0], ast.Expr)
      and isinstance(body[0].value, ast.Constant)
      and isinstance(body[0].value.value, str)
    ):
      self._skip_tree(body[0])

  def visit_Module(self, node):
    self._body_docstring(node.body)
    self.generic_visit(node)

  def visit_ClassDef(self, node):
    self._body_docstring(node.body)
    saved, self._depth_fn = self._depth_fn, 0
    self.generic_visit(node)
    self._depth_fn = saved

  def visit_FunctionDef(self, node):
    self._body_docstring(node.body)
    self._skip_tree(node.returns)
    for a in (
      node.args.posonlyargs
      + node.args.args
      + node.args.kwonlyargs
      + [node.args.vararg, node.args.kwarg]
    ):
      if a is not None:
        self._skip_tree(a.annotation)
    for dec in node.decorator_list:
      self.visit(dec)
    for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
      self.visit(default)
    self._depth_fn += 1
    for stmt in node.body:
      self.visit(stmt)
    self._depth_fn -= 1

  visit_AsyncFunctionDef = visit_FunctionDef

  def visit_Lambda(self, node):
    self._depth_fn += 1
    self.generic_visit(node)
    self._depth_fn -= 1

  def visit_AnnAssign(self, node):
    self._skip_tree(node.annotation)
    self._skip_tree(node.target)
    if node.value is not None:
      self.visit(node.value)
    if self._depth_fn and node.value is not None:
      self._add(node, "pass", "statement", "-> pass", statement=True)

  def visit_JoinedStr(self, node):  # f-strings: messages, not behaviour
    return

  # --- statements ---
  def _delete(self, node):
    if self._depth_fn:
      self._add(node, "pass", "statement", "-> pass", statement=True)

  def visit_Assign(self, node):
    self._delete(node)
    self.visit(node.value)
    for t in node.targets:  # subscripts in targets may hold expressions
      if not isinstance(t, (ast.Name, ast.Tuple, ast.List, ast.Attribute)):
        self.visit(t)

  def visit_AugAssign(self, node):
    self._delete(node)
    if type(node.op) in BIN_SWAP:
      new = copy.deepcopy(node)
      new.op = BIN_SWAP[type(node.op)]()
      self._add(
        node,
        ast.unparse(new),
        "augassign",
        f"{SYMBOL[type(node.op)]}= -> {SYMBOL[BIN_SWAP[type(node.op)]]}=",
        statement=True,
      )
    self.visit(node.value)

  def visit_Expr(self, node):
    if not (isinstance(node.value, ast.Constant)):
      self._delete(node)
    self.generic_visit(node)

  def visit_Return(self, node):
    if node.value is None:
      self._delete(node)
    elif not (isinstance(node.value, ast.Constant) and node.value.value is None):
      self._add(node, "return None", "return", "-> return None", statement=True)
      self.visit(node.value)

  def visit_Raise(self, node):
    self._delete(node)
    self.generic_visit(node)

  def visit_Assert(self, node):
    self._delete(node)
    self.generic_visit(node)

  def visit_Break(self, node):
    self._delete(node)

  def visit_Continue(self, node):
    self._delete(node)

  def _negate_test(self, test):
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
      return  # removing the `not` is its own mutant
    self._add(test, ast.UnaryOp(ast.Not(), copy.deepcopy(test)), "negate", "-> not (...)")

  def visit_If(self, node):
    self._negate_test(node.test)
    self.generic_visit(node)

  def visit_While(self, node):
    self._negate_test(node.test)
    self.generic_visit(node)

  def visit_IfExp(self, node):
    self._negate_test(node.test)
    self.generic_visit(node)

  # --- expressions ---
  def visit_Compare(self, node):
    for i, op in enumerate(node.ops):
      if type(op) in CMP_SWAP:
        new = copy.deepcopy(node)
        new.ops[i] = CMP_SWAP[type(op)]()
        self._add(node, new, "compare", f"{SYMBOL[type(op)]} -> {SYMBOL[CMP_SWAP[type(op)]]}")
    self.generic_visit(node)

  def visit_BinOp(self, node):
    if type(node.op) in BIN_SWAP:
      new = copy.deepcopy(node)
      new.op = BIN_SWAP[type(node.op)]()
      self._add(node, new, "binop", f"{SYMBOL[type(node.op)]} -> {SYMBOL[type(new.op)]}")
    self.generic_visit(node)

  def visit_BoolOp(self, node):
    new = copy.deepcopy(node)
    new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    self._add(node, new, "boolop", f"{SYMBOL[type(node.op)]} -> {SYMBOL[type(new.op)]}")
    self.generic_visit(node)

  def visit_Call(self, node):
    for i, kw in enumerate(node.keywords):
      if kw.arg is not None:  # not **kwargs
        new = copy.deepcopy(node)
        del new.keywords[i]
        self._add(node, new, "keyword", f"drop {kw.arg}=")
    self.generic_visit(node)

  def visit_UnaryOp(self, node):
    if isinstance(node.op, ast.Not):
      self._add(node, copy.deepcopy(node.operand), "not", "not x -> x")
    elif isinstance(node.op, ast.USub):
      self._add(node, copy.deepcopy(node.operand), "usub", "-x -> x")
    self.generic_visit(node)

  def visit_Constant(self, node):
    v = node.value
    if isinstance(v, bool):
      self._add(node, ast.Constant(not v), "constant", f"{v} -> {not v}")
    elif isinstance(v, int):
      self._add(node, ast.Constant(v + 1), "constant", f"{v} -> {v + 1}")
      if v == 1:
        self._add(node, ast.Constant(0), "constant", "1 -> 0")
    elif isinstance(v, float):
      self._add(node, ast.Constant(v + 1.0), "constant", f"{v!r} -> {v + 1.0!r}")


def _splice(lines: list[bytes], node, text: str, statement: bool) -> list[bytes]:
  """Replaces node's span (UTF-8 byte columns) with `text`, keeping the number of lines."""
  l0, c0, l1, c1 = node.lineno - 1, node.col_offset, node.end_lineno - 1, node.end_col_offset
  extra = l1 - l0
  if statement:  # a multi-line statement: `pass; (None<newlines>)` keeps the line count
    new = text if not extra else f"{text}; (None" + "\n" * extra + ")"
  else:
    new = "(" + text + "\n" * extra + ")"
  head, tail = lines[l0][:c0], lines[l1][c1:]
  return lines[:l0] + (head + new.encode() + tail).splitlines(keepends=True) + lines[l1 + 1 :]


def make_mutants(module: str, source: str) -> list[Mutant]:
  tree = ast.parse(source)
  collector = _Points()
  collector.visit(tree)
  lines = source.encode().splitlines(keepends=True)
  text_lines = source.splitlines()
  mutants, seen = [], {hashlib.sha256(source.encode()).hexdigest()}
  for node, new, kind, desc, statement in collector.points:
    if any(PRAGMA in text_lines[i] for i in range(node.lineno - 1, node.end_lineno)):
      continue
    text = new if isinstance(new, str) else ast.unparse(new)
    mutated_lines = _splice(lines, node, text, statement)
    mutated = b"".join(mutated_lines).decode()
    digest = hashlib.sha256(mutated.encode()).hexdigest()
    if digest in seen:
      continue
    seen.add(digest)
    try:
      compile(mutated, module, "exec")
    except SyntaxError:
      continue
    span = slice(node.lineno - 1, node.end_lineno)
    mutants.append(
      Mutant(
        module=module,
        index=len(mutants),
        line=node.lineno,
        end_line=node.end_lineno,
        col=node.col_offset,
        kind=kind,
        description=desc,
        original="\n".join(text_lines[span]),
        mutated="\n".join(mutated.splitlines()[span]),
        source=mutated,
      )
    )
  return mutants


# ----------------------------------------------------------------------------------------
# Running the tests
# ----------------------------------------------------------------------------------------

_PLUGIN = '''
"""pytest plugin of tools/mutation.py (loaded with -p _mutation_plugin).

$MUTATION_TRACE_FILE: record the lines of that file the tests execute, into $MUTATION_TRACE_OUT.
$MUTATION_DURATIONS: write {nodeid: seconds} of the run there.
$MUTATION_ORDER: a JSON list of node ids; run the tests in that order (unlisted ones last).
"""
import json, os, sys, threading

_target = os.environ.get("MUTATION_TRACE_FILE")
_lines, _codes, _durations = set(), {}, {}

def _local(frame, event, arg):
  if event == "line":
    _lines.add(frame.f_lineno)
  return _local

def _global(frame, event, arg):
  code = frame.f_code
  hit = _codes.get(code)
  if hit is None:
    hit = _codes[code] = os.path.realpath(code.co_filename) == _target
  if hit:
    _lines.add(frame.f_lineno)
    return _local
  return None

if _target:
  _target = os.path.realpath(_target)
  sys.settrace(_global)
  threading.settrace(_global)

def pytest_collection_modifyitems(session, config, items):
  path = os.environ.get("MUTATION_ORDER")
  if not path:
    return
  rank = {nodeid: i for i, nodeid in enumerate(json.load(open(path)))}
  # files stay together (their module fixtures are built once): a file runs at the rank of its
  # best test, its tests by their own rank
  file_rank = {}
  for item in items:
    f = item.nodeid.split("::")[0]
    file_rank[f] = min(file_rank.get(f, len(rank)), rank.get(item.nodeid, len(rank)))
  items.sort(key=lambda it: (file_rank[it.nodeid.split("::")[0]], it.nodeid.split("::")[0],
                             rank.get(it.nodeid, len(rank))))

def pytest_runtest_logreport(report):
  _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration

def pytest_unconfigure(config):
  if _target:
    sys.settrace(None)
    with open(os.environ["MUTATION_TRACE_OUT"], "w") as f:
      json.dump(sorted(_lines), f)
  if os.environ.get("MUTATION_DURATIONS"):
    with open(os.environ["MUTATION_DURATIONS"], "w") as f:
      json.dump(_durations, f)
'''


_SERVER = '''
"""Fork server of tools/mutation.py: imports the heavy libraries once, then runs each request
(a pytest command line) in a forked child with its own session, output file and timeout."""
import json, os, signal, sys, time
import numpy, jax, jax.numpy, flax.linen, optax, orbax.checkpoint, chex  # no backend started
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot, PIL.Image, tqdm, pytest
try:
  import tensorboardX, tensorflow_datasets
except ImportError:
  pass

# A test run is a child in a session of its own (a timeout kills its whole group), so no signal
# to the tool reaches it: when the tool is stopped (SIGTERM, Ctrl-C) or dies (its parent
# changes), the server kills the run in progress and exits, instead of leaving it running.
running, parent = None, os.getppid()


def stop(*_):
  if running is not None:
    try:
      os.killpg(running, signal.SIGKILL)
    except ProcessLookupError:
      pass
  os._exit(1)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
for line in sys.stdin:
  req = json.loads(line)
  start = time.perf_counter()
  pid = running = os.fork()
  if pid == 0:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.environ.update(req["env"])
    code = 3
    try:
      code = int(pytest.main(req["argv"]))
    finally:
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(code)
  rc = None
  while True:
    if os.getppid() != parent:
      stop()
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
      rc = os.waitstatus_to_exitcode(status)
      break
    if time.perf_counter() - start > req["timeout"]:
      try:
        os.killpg(pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
      os.waitpid(pid, 0)
      break
    time.sleep(0.05)
  running = None
  print(json.dumps({"rc": rc, "seconds": time.perf_counter() - start}), flush=True)
'''


class Worker:
  """A scratch copy of the package and the tests, where one mutant at a time is written."""

  def __init__(self, root: Path, cache: Path, fork: bool = True):
    self.dir = root
    for name in ("hw2_jax", "tests"):
      shutil.copytree(
        ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
      )
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "_mutation_plugin.py").write_text(_PLUGIN)
    # No bytecode files: a mutant the same size as the original, written within the same
    # second, would otherwise run the original's cached bytecode.
    self.env = dict(
      os.environ,
      PYTHONPATH=str(root),
      PYTHONDONTWRITEBYTECODE="1",
      JAX_COMPILATION_CACHE_DIR=str(cache),
      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
      MPLBACKEND="Agg",
      TF_CPP_MIN_LOG_LEVEL="3",
    )
    for key in ("PYTEST_ADDOPTS", "MUTATION_TRACE_FILE", "MUTATION_DURATIONS"):
      self.env.pop(key, None)
    self.server = None
    if fork:
      (root / "_mutation_server.py").write_text(_SERVER)
      self.server = subprocess.Popen(
        [sys.executable, "_mutation_server.py"],
        cwd=root,
        env=self.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
      )

  def pytest(self, tests: Tests, timeout: float | None, **env):
    """Runs the tests in this copy: (returncode, or None past the timeout; seconds; output).

    Through the fork server (the libraries imported once) unless `fork` is off; either way
    every run is a fresh process that has not imported hw2_jax or the tests."""
    argv = [
      "-x",
      "-q",
      "-p",
      "no:cacheprovider",
      "-p",
      "no:xdist",
      "-p",
      "_mutation_plugin",
      *tests.files,
    ] + (["-k", tests.k] if tests.k else [])
    if self.server is not None:
      out_file = self.dir / "_out.txt"
      self.server.stdin.write(
        json.dumps({"argv": argv, "env": env, "out": str(out_file), "timeout": timeout or 1e9})
        + "\n"
      )
      self.server.stdin.flush()
      reply = json.loads(self.server.stdout.readline())
      return reply["rc"], reply["seconds"], out_file.read_text(errors="replace")
    start = time.perf_counter()
    proc = subprocess.Popen(
      [sys.executable, "-m", "pytest", *argv],
      cwd=self.dir,
      env={**self.env, **env},
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
      start_new_session=True,
    )
    try:
      out, _ = proc.communicate(timeout=timeout)
      return proc.returncode, time.perf_counter() - start, out
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, signal.SIGKILL)
      out, _ = proc.communicate()
      return None, time.perf_counter() - start, out
    except BaseException:  # the tool stopped (Ctrl-C, SIGTERM): the run goes with it
      os.killpg(proc.pid, signal.SIGKILL)
      raise

  def close(self, stop: bool = False) -> None:
    """Ends the fork server: after its run in progress, or (`stop`) killing that run now."""
    if self.server is not None:
      if stop:
        self.server.terminate()
      else:
        self.server.stdin.close()
      self.server.wait()

  def write(self, module: str, text: str) -> None:
    (self.dir / module).write_text(text)


def _first_failure(output: str) -> str:
  m = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
  if m:
    return m.group(1)
  return output.strip().splitlines()[-1][:200] if output.strip() else ""


def load_equivalents() -> dict[str, str]:
  if not EQUIVALENTS.exists():
    return {}
  return {e["key"]: e["reason"] for e in json.loads(EQUIVALENTS.read_text())}


_LOGGED = re.compile(r"^\s+\[\d+/\d+\] (\w+)\s+([\d.]+)s (\S+) (.*?)(?:  \((.*)\))?$")


def logged_results(paths: list[str]) -> dict[tuple[str, str], tuple[str, float, str]]:
  """(mutant id, description) -> (status, seconds, first failing test) of the mutants earlier
  logs saw killed (or timed out); their survivors run again, against today's tests.

  A mutant id is its module, line and column, so a log is only valid for a module whose lines
  up to the last logged mutant are unchanged since that run (check with git diff).
  """
  done = {}
  for path in paths:
    for line in Path(path).read_text().splitlines():
      m = _LOGGED.match(line)
      if m:
        status, secs, mid, description, failed = m.groups()
        if status in ("killed", "timeout"):
          done[mid, description] = (status, float(secs), failed or "")
  return done


def run_module(module: str, workers: list[Worker], args, log, only_keys=None) -> dict:
  tests = MODULES[module]
  if args.k:
    tests = dataclasses.replace(tests, k=args.k)
  source = (ROOT / module).read_text()
  mutants = make_mutants(module, source)
  earlier = args.earlier
  if only_keys is not None:
    mutants = [m for m in mutants if m.key in only_keys]
  if args.max_mutants:
    mutants = mutants[: args.max_mutants]
  log(
    f"{module}: {len(mutants)} mutants; tests: {' '.join(tests.files)}"
    + (f" -k {tests.k!r}" if tests.k else "")
  )
  t_module = time.perf_counter()

  # The unmutated run: must pass; traced for the lines the tests execute, timed per test.
  w0 = workers[0]
  trace, durations_file = w0.dir / "_trace.json", w0.dir / "_durations.json"
  rc, base_secs, out = w0.pytest(
    tests,
    None,
    MUTATION_TRACE_FILE=str(w0.dir / module),
    MUTATION_TRACE_OUT=str(trace),
    MUTATION_DURATIONS=str(durations_file),
  )
  if rc != 0:
    raise SystemExit(f"{module}: the tests fail on the unmutated code:\n{out[-3000:]}")
  covered = None if args.no_coverage_filter else set(json.loads(trace.read_text()))
  durations = json.loads(durations_file.read_text())
  timeout = max(args.min_timeout, args.timeout_factor * base_secs)
  log(
    f"  unmutated run: {len(durations)} tests passed in {base_secs:.1f} s (traced); "
    f"timeout per mutant {timeout:.0f} s"
  )
  resumed = sum((m.id, m.description) in earlier for m in mutants)
  if resumed:
    log(f"  {resumed} mutants keep their status from {' '.join(args.resume)} (--resume)")

  # -x stops at the first failure: tests run by kills per second so far (a test's setup,
  # module fixtures included, counts in its time), so that cheap tests that kill run first.
  kills = dict.fromkeys(durations, 0)
  lock = threading.Lock()
  todo = []
  equivalents = load_equivalents()
  for m in mutants:
    if (m.id, m.description) in earlier:
      m.status, m.seconds, m.failed = earlier[m.id, m.description]
    elif args.skip_listed and m.key in equivalents:
      m.status, m.reason = "equivalent", equivalents[m.key]
    elif covered is not None and not covered.intersection(range(m.line, m.end_line + 1)):
      m.status = "not covered"
    else:
      todo.append(m)
  listed = sum(m.status == "equivalent" for m in mutants)
  if listed:
    log(f"  {listed} mutants listed as equivalent are not run (--skip-listed)")
  free = list(workers)
  done = [0]

  def run_one(m: Mutant):
    with lock:
      w = free.pop()
      order = sorted(kills, key=lambda t: -(kills[t] + 0.1) / max(durations.get(t, 0.0), 0.05))
    try:
      (w.dir / "_order.json").write_text(json.dumps(order))
      w.write(module, m.source)
      rc, secs, out = w.pytest(tests, timeout, MUTATION_ORDER=str(w.dir / "_order.json"))
    finally:
      w.write(module, source)
      with lock:
        free.append(w)
    m.seconds = round(secs, 1)
    if rc is None:
      m.status = "timeout"
    elif rc == 0:
      m.status = "survived"
    else:
      m.status, m.failed = "killed", _first_failure(out)
    with lock:
      if m.failed in kills:
        kills[m.failed] += 1
      done[0] += 1
      log(
        f"  [{done[0]}/{len(todo)}] {m.status:8} {secs:5.1f}s {m.id} {m.description}"
        + (f"  ({m.failed})" if m.failed else "")
      )

  with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:
    list(pool.map(run_one, todo))
  for m in mutants:
    if m.status in ("survived", "not covered") and m.key in equivalents:
      m.reason = equivalents[m.key]
      m.status = "equivalent"
  counts = {s: sum(m.status == s for m in mutants) for s in STATUSES}
  counts["total"] = len(mutants)
  return {
    "module": module,
    "tests": list(tests.files),
    "k": tests.k,
    "unmutated_seconds": round(base_secs, 1),
    "seconds": round(time.perf_counter() - t_module, 1),
    "counts": counts,
    "kills_per_test": {t: n for t, n in kills.items() if n},
    "mutants": [m.record() for m in mutants],
  }


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------


def markdown(report: dict) -> str:
  lines = [
    f"# Mutation run {report['started']}",
    "",
    f"Command: `{report['command']}`  ",
    f"Machine: {report['machine']}  ",
    f"Commit: {report['commit']}; wall time {report['seconds'] / 60:.1f} min",
    "",
    "| module | mutants | killed | timeout | survived | not covered | equivalent | minutes |",
    "|---|---|---|---|---|---|---|---|",
  ]
  for r in report["modules"]:
    c = r["counts"]
    lines.append(
      f"| {r['module']} | {c['total']} | {c['killed']} | {c['timeout']} | "
      f"{c['survived']} | {c['not covered']} | {c['equivalent']} | "
      f"{r['seconds'] / 60:.1f} |"
    )
  for r in report["modules"]:
    lines += [
      "",
      f"## {r['module']}",
      "",
      f"Tests: {', '.join(r['tests'])}" + (f" (-k `{r['k']}`)" if r["k"] else ""),
      "",
    ]
    for status in ("survived", "not covered", "equivalent"):
      group = [m for m in r["mutants"] if m["status"] == status]
      if not group:
        continue
      lines += [f"### {status} ({len(group)})", ""]
      for m in group:
        orig = m["original"].strip().splitlines()[0].strip()
        new = m["mutated"].strip().splitlines()[0].strip() if m["mutated"].strip() else ""
        lines.append(
          f"- line {m['line']} ({m['kind']} {m['description']}): `{orig}` -> "
          f"`{new}`" + (f"  \n  equivalent: {m['reason']}" if m["reason"] else "")
        )
      lines.append("")
  return "\n".join(lines) + "\n"


def _module_name(name: str) -> str:
  for module in MODULES:
    if name in (module, module[len("hw2_jax/") : -3], module[len("hw2_jax/") :]):
      return module
  raise SystemExit(
    f"unknown module {name!r}; choose from: " + ", ".join(m[len("hw2_jax/") : -3] for m in MODULES)
  )


def main(argv=None) -> None:
  p = argparse.ArgumentParser(
    description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
  )
  p.add_argument(
    "--modules",
    nargs="+",
    default=None,
    help="e.g. padding/train gpt/model (default: all of MODULES)",
  )
  p.add_argument("--jobs", type=int, default=1, help="mutants tested at once")
  p.add_argument("--out", default=None, help="report folder (default runs/mutation/<time>)")
  p.add_argument(
    "--timeout-factor",
    type=float,
    default=3.0,
    help="timeout per mutant = this x the unmutated run's time",
  )
  p.add_argument("--min-timeout", type=float, default=60.0, help="seconds")
  p.add_argument(
    "--rerun",
    default=None,
    help="a previous mutation.json: run only the mutants that survived there",
  )
  p.add_argument(
    "--resume",
    nargs="+",
    default=None,
    metavar="LOG",
    help="mutation.log files of runs that stopped: the mutants they killed are not run again",
  )
  p.add_argument(
    "-k",
    default=None,
    help="only the module's tests that match this pytest -k expression (with --rerun: the "
    "new tests written for its survivors; a mutant they leave is not proven a survivor)",
  )
  p.add_argument(
    "--skip-listed",
    action="store_true",
    help="do not run the mutants tools/mutation_equivalents.json lists (survivors of earlier "
    "runs judged equivalent): report them as equivalent, saving their full test runs",
  )
  p.add_argument("--max-mutants", type=int, default=None, help="first N mutants per module")
  p.add_argument(
    "--no-coverage-filter",
    action="store_true",
    help="also run mutants on lines the tests never execute",
  )
  p.add_argument(
    "--no-fork",
    action="store_true",
    help="start every test run as a new interpreter instead of forking a "
    "server that has imported jax, flax, optax, orbax and pytest once",
  )
  p.add_argument("--list", action="store_true", help="print the mutants and stop")
  args = p.parse_args(argv)
  args.earlier = logged_results(args.resume or [])  # read once, for every module

  modules = [_module_name(m) for m in args.modules] if args.modules else list(MODULES)
  if args.list:
    for module in modules:
      ms = make_mutants(module, (ROOT / module).read_text())
      for m in ms:
        print(f"{m.id}\t{m.description}\t{m.original.strip().splitlines()[0].strip()}")
      print(f"# {module}: {len(ms)} mutants", file=sys.stderr)
    return
  only = None
  if args.rerun:
    old = json.loads(Path(args.rerun).read_text())
    only = {
      mutant_key(m["module"], m["original"], m["mutated"])
      for r in old["modules"]
      for m in r["mutants"]
      if m["status"] in ("survived", "not covered", "timeout", "equivalent")
    }
    modules = [m for m in modules if any(r["module"] == m for r in old["modules"])]

  started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
  out = (
    Path(args.out)
    if args.out
    else ROOT / "runs" / "mutation" / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  )
  out.mkdir(parents=True, exist_ok=True)
  log_file = (out / "mutation.log").open("a")

  def log(msg):
    print(msg, flush=True)
    log_file.write(msg + "\n")
    log_file.flush()

  commit = subprocess.run(
    ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, capture_output=True
  ).stdout.strip()
  dirty = subprocess.run(
    ["git", "status", "--porcelain", "hw2_jax", "tests"], cwd=ROOT, text=True, capture_output=True
  ).stdout.strip()
  report = {
    "started": started,
    "command": " ".join(
      ["python", "tools/mutation.py", *(argv if argv is not None else sys.argv[1:])]
    ),
    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
    f"Python {platform.python_version()}",
    "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    "modules": [],
    "seconds": 0.0,
  }
  t0 = time.perf_counter()
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop as Ctrl-C does: cleaned up
  with tempfile.TemporaryDirectory(prefix="hw2-mutation-") as scratch:
    scratch = Path(scratch)
    cache = scratch / "jax-cache"
    workers = [
      Worker(scratch / f"w{i}", cache, fork=not args.no_fork) for i in range(max(1, args.jobs))
    ]
    stopped = True
    try:
      for module in modules:
        report["modules"].append(run_module(module, workers, args, log, only))
        report["seconds"] = round(time.perf_counter() - t0, 1)
        (out / "mutation.json").write_text(json.dumps(report, indent=1) + "\n")
        (out / "mutation.md").write_text(markdown(report))
      stopped = False
    finally:  # also on Ctrl-C and SIGTERM (the handler above): no test run is left behind
      for w in workers:
        w.close(stop=stopped)
  log(f"wrote {out}/mutation.md and mutation.json ({report['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
  main()
