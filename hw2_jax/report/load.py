"""The committed result files the report reads, each checked for the shape the report needs.

A missing optional file reads as None (the report then says "not run yet" and names the
command); a damaged or wrongly shaped file is a ConfigError of one line naming the file and what
is wrong. The two data files of the package: anchors.json (published numbers, with sources)
and sources.json (each results folder's command and machine).
"""

import json
import math
import re
from importlib import resources
from pathlib import Path

from hw2_jax.core import io
from hw2_jax.core.errors import ConfigError
from hw2_jax.padding.config import protocol_of

PADDING = {
  "original": "padding-study",
  "clean": "padding-study-clean",
  "bf16": "padding-study-bf16",
}
PADDING_JSON = "padding_study.json"
ROTATION = ("rotation-study-seeds", "rotation-study")  # preferred first
ROTATION_JSON = "rotation_study.json"
GPT_RUNS = ("gpt/grimm", "gpt/gpt-mini")  # the assignment's runs: required, then awaited
GPT_RECIPE, NANOGPT_LOG = "bench/gpt_recipe.json", "bench/nanogpt_recipe.log"
FIX = "restore it (git checkout -- FILE) or rerun the command that writes it"


def data_file(name: str) -> dict:
  """One of the package's JSON data files (anchors.json, sources.json)."""
  return json.loads(resources.files("hw2_jax.report").joinpath(name).read_text())


def _fail(path, what: str) -> ConfigError:
  return ConfigError(f"{path} {what}; {FIX.replace('FILE', str(path))}.")


def _need(ok: bool, path, what: str) -> None:
  if not ok:
    raise _fail(path, what)


def _number(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def _read_json(path) -> dict:
  return io.read_json(path, "result file", FIX.replace("FILE", str(path)))


def padding_study(results: Path, protocol: str) -> dict | None:
  """The padding study of `protocol` ("original", "clean"; "bf16": the original protocol in
  bfloat16), or None when it is not in `results`."""
  path = results / PADDING[protocol] / PADDING_JSON
  if not path.is_file():
    return None
  study = _read_json(path)
  _need(
    isinstance(study, dict)
    and isinstance(study.get("config"), dict)
    and isinstance(study.get("results"), dict)
    and study["results"],
    path,
    "has no 'config' object and non-empty 'results' object",
  )
  cfg = study["config"]
  seeds = cfg.get("seeds")
  _need(
    isinstance(seeds, list) and seeds and all(isinstance(s, int) for s in seeds),
    path,
    "has no list of integer 'seeds' in its config",
  )
  expected = "original" if protocol == "bf16" else protocol
  _need(
    protocol_of(cfg) == expected,
    path,
    f"records protocol {protocol_of(cfg)!r} where {PADDING[protocol]}/ holds the {expected!r} one",
  )
  for key in ("num_train", "num_val", "num_test"):
    _need(isinstance(cfg.get(key), int) and cfg[key] > 0, path, f"has no positive config {key!r}")
  splits = ("val", "similar", "test") if expected == "clean" else ("val", "test")
  n = len(seeds)
  for net, by_conv in study["results"].items():
    _need(isinstance(by_conv, dict) and by_conv, path, f"has no padding results for {net}")
    for conv, entry in by_conv.items():
      where = f"{net} {conv}"
      _need(isinstance(entry, dict), path, f"{where} is not an object")
      diverged = entry.get("diverged", [])
      _need(
        isinstance(diverged, list) and all(isinstance(i, int) and 0 <= i < n for i in diverged),
        path,
        f"{where} 'diverged' is not a list of round indices below {n}",
      )
      for split in splits:
        acc = entry.get(split)
        _need(
          isinstance(acc, list) and len(acc) == n and all(map(_number, acc)),
          path,
          f"{where} {split!r} is not a list of {n} accuracies (one per seed)",
        )
        _need(
          all(0 <= a <= 100 for i, a in enumerate(acc) if i not in diverged),
          path,
          f"{where} {split!r} holds a value outside 0-100 (accuracies are in %)",
        )
  return study


def rotation_study(results: Path) -> tuple[str, dict] | None:
  """(folder, study) of the first rotation study present (the multi-seed one first), or None."""
  for folder in ROTATION:
    path = results / folder / ROTATION_JSON
    if path.is_file():
      break
  else:
    return None
  study = _read_json(path)
  _need(isinstance(study, dict), path, "is not a JSON object")
  angles = study.get("angles")
  _need(
    isinstance(angles, list) and angles and all(map(_number, angles)),
    path,
    "has no list of 'angles'",
  )
  models = study.get("models")
  _need(isinstance(models, dict) and models, path, "has no 'models' object")
  for name, m in models.items():
    per_seed = m.get("accuracy_per_seed") if isinstance(m, dict) else None
    _need(
      isinstance(per_seed, list)
      and per_seed
      and all(
        isinstance(row, list) and len(row) == len(angles) and all(map(_number, row))
        for row in per_seed
      ),
      path,
      f"model {name!r} has no 'accuracy_per_seed' list of rows of {len(angles)} accuracies",
    )
    diverged = m.get("diverged_seeds", [])
    _need(
      isinstance(diverged, list)
      and all(isinstance(i, int) and 0 <= i < len(per_seed) for i in diverged),
      path,
      f"model {name!r} 'diverged_seeds' is not a list of seed indices",
    )
  return folder, study


def gpt_run(results: Path, run: str) -> dict | None:
  """{"records": metrics.jsonl, "summary": summary.json or {}, "samples": samples.txt or None}
  of a GPT run folder, or None when it has no metrics.jsonl."""
  folder = results / run
  path = folder / "metrics.jsonl"
  if not path.is_file():
    return None
  warnings = []
  records = io.read_jsonl(path, warn=warnings.append)
  _need(
    all(isinstance(r, dict) and isinstance(r.get("kind"), str) for r in records),
    path,
    "holds a line without a 'kind'",
  )
  steps = [r for r in records if r["kind"] == "step"]
  _need(bool(steps), path, "holds no 'step' record")
  for r in records:
    if r["kind"] in ("step", "epoch"):
      _need(
        isinstance(r.get("step"), int) and _number(r.get("loss")) and math.isfinite(r["loss"]),
        path,
        f"has a {r['kind']} record without an integer 'step' and a finite 'loss'",
      )
  summary = _read_json(folder / "summary.json") if (folder / "summary.json").is_file() else {}
  samples = (folder / "samples.txt").read_text() if (folder / "samples.txt").is_file() else None
  return {"records": records, "summary": summary, "samples": samples, "warnings": warnings}


def gpt_recipe(results: Path) -> dict | None:
  """This project's rows of nanoGPT's CPU recipe (bench/gpt_recipe.json), or None."""
  path = results / GPT_RECIPE
  if not path.is_file():
    return None
  recipe = _read_json(path)
  rows = recipe.get("rows") if isinstance(recipe, dict) else None
  keys = ("variant", "run", "val_loss", "wall_s", "peak_rss_gb")
  _need(
    isinstance(rows, list)
    and rows
    and all(isinstance(r, dict) and all(k in r for k in keys) for r in rows),
    path,
    f"has no 'rows' list with {', '.join(keys)} in each row",
  )
  return recipe


_EVAL = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)", re.M)
_WALL = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)")
_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def nanogpt_log(results: Path) -> dict | None:
  """nanoGPT's own run (bench/nanogpt_recipe.log): its evaluations, wall time (s) and peak
  resident memory (KiB, as /usr/bin/time -v reports it), or None."""
  path = results / NANOGPT_LOG
  if not path.is_file():
    return None
  text = path.read_text()
  evals = [(int(s), float(t), float(v)) for s, t, v in _EVAL.findall(text)]
  wall, rss = _WALL.search(text), _RSS.search(text)
  _need(
    bool(evals and wall and rss),
    path,
    "lacks nanoGPT's 'step N: train loss X, val loss Y' lines or /usr/bin/time -v's wall "
    "time and maximum resident set size",
  )
  seconds = 0.0
  for part in wall.group(1).split(":"):
    seconds = seconds * 60 + float(part)
  return {"evals": evals, "wall_s": seconds, "peak_rss_kib": int(rss.group(1))}


def source(results: Path, key: str, record: dict | None = None) -> dict:
  """{"path", "command", "machine"} of a result: the record's own 'command' when it has one,
  else sources.json's; sources.json's machine, else the device the record names."""
  known = data_file("sources.json").get(key, {})
  record = record if isinstance(record, dict) else {}
  machine = known.get("machine")
  if machine is None:
    machine = f"device recorded: {record['device']}" if "device" in record else "not recorded"
  command = record.get("command") or known.get("command", "not recorded")
  return {
    "path": f"{results.name}/{key}",
    "command": " ".join(map(str, command)) if isinstance(command, list) else str(command),
    "machine": machine,
  }
