"""`python -m hw2_jax report`: the homework's tables and figures from the committed results.

Reads every input first (load.py: a damaged file stops the build before --out is touched),
computes the numbers (padding.py and padding_claims.py, rotation.py, gpt.py), claims --out
(core/rundir.py: a folder holding another command's outputs is refused; an earlier report's
files are replaced, the report being derived data), renders report.md, report.json and the
figures into memory and writes them as one unit. Trains nothing.
"""

import json
from pathlib import Path

from hw2_jax.core import rundir
from hw2_jax.report import (
  gpt,
  gpt_figures,
  gpt_section,
  load,
  padding,
  padding_claims,
  padding_figure,
  padding_section,
  rotation,
)
from hw2_jax.report.config import Config

COMMAND = "report"
MARKDOWN, JSON = "report.md", "report.json"


def _intro(cfg: Config) -> str:
  return (
    "# hw2: the homework's tables and figures, with confidence intervals\n\n"
    f"Built by `make report` (`python -m hw2_jax report --results {cfg.results} --out "
    f"{cfg.out}`) from the committed result files; it trains nothing. Accuracies are in %. "
    "For every configuration: the mean over seeds and its 95% confidence interval, Student t "
    "with n − 1 degrees of freedom, written `mean [lo, hi]` (where every seed agrees, the "
    "interval is that value; with one seed there is none; it is not clipped to 0-100). "
    "Configurations trained on the same "
    "images with the same seeds are compared seed by seed: the mean difference, its t interval "
    "and the exact two-sided sign-flip p-value over all 2^n sign assignments "
    "(`hw2_jax/report/stats.py`). Published numbers come from `hw2_jax/report/anchors.json`, "
    "commands and machines from each result file or `hw2_jax/report/sources.json`.\n"
  )


def _record(found):
  """What may name a result's command and device: a GPT run's summary.json, a JSON file."""
  return found.get("summary", found) if isinstance(found, dict) else None


def read_inputs(results: Path) -> dict:
  """Every input of the report, read and checked (a damaged file is a one-line ConfigError)."""
  inputs = {"anchors": load.data_file("anchors.json")}
  inputs["padding"] = {p: load.padding_study(results, p) for p in load.PADDING}
  inputs["rotation"] = load.rotation_study(results)  # (folder, study)
  inputs["gpt"] = {key: load.gpt_run(results, key) for key in load.GPT_RUNS}
  inputs["shakespeare"] = load.gpt_run(results, "gpt/shakespeare")
  inputs["recipe"], inputs["nanogpt"] = load.gpt_recipe(results), load.nanogpt_log(results)
  return inputs


def _padding(results: Path, inputs: dict) -> tuple[dict, dict]:
  """Question 1.1's numbers (with the claims) and each study's source."""
  studies = inputs["padding"]
  sources = {
    p: load.source(results, load.PADDING[p], studies[p]) for p in ("original", "clean", "bf16")
  }
  numbers = padding.compute(studies)
  numbers["claims"] = padding_claims.claims(numbers, inputs["anchors"]["homework"])
  return numbers, sources


def _rotation(results: Path, inputs: dict) -> tuple[dict, dict, dict | None]:
  """Question 1.2's numbers, the study's source and the awaited multi-seed study's (or None)."""
  folder, study = inputs["rotation"]
  source = load.source(results, folder, study)
  awaited = None if folder == load.ROTATION[0] else load.source(results, load.ROTATION[0], None)
  return rotation.compute(study), source, awaited


def _gpt(results: Path, inputs: dict) -> tuple[dict, dict]:
  """Question 2.7's numbers and every input's source (with "present")."""
  runs = inputs["gpt"]
  numbers = {
    "runs": {key.split("/")[-1]: gpt.run_numbers(r) for key, r in runs.items() if r},
    "awaited": {key: load.source(results, key)["command"] for key, r in runs.items() if r is None},
    "nanogpt_comparison": gpt.comparison(inputs["recipe"], inputs["nanogpt"], inputs["anchors"]),
  }
  found = {
    **runs,
    "gpt/shakespeare": inputs["shakespeare"],
    load.GPT_RECIPE: inputs["recipe"],
    load.NANOGPT_LOG: inputs["nanogpt"],
  }
  sources = {
    key: {**load.source(results, key, _record(f)), "present": f is not None}
    for key, f in found.items()
  }
  return numbers, sources


def outputs(cfg: Config, inputs: dict) -> dict:
  """{file name: bytes}: report.md, report.json and the figures, rendered in memory."""
  results, anchors = Path(cfg.results), inputs["anchors"]
  pad_numbers, pad_sources = _padding(results, inputs)
  rot_numbers, rot_source, rot_awaited = _rotation(results, inputs)
  gpt_numbers, gpt_sources = _gpt(results, inputs)

  figures = {}
  padding_figure.draw(figures, pad_numbers, anchors)
  for i, (name, m) in enumerate(rot_numbers.items(), start=1):
    rotation.draw(figures, name, m, i)
  rotation.draw_all(figures, rot_numbers)
  runs = {key.split("/")[-1]: r for key, r in inputs["gpt"].items() if r}
  gpt_names = gpt_figures.draw(
    figures, runs, gpt_numbers["runs"], inputs["shakespeare"], inputs["nanogpt"]
  )

  sections = [
    _intro(cfg),
    padding_section.markdown(inputs["padding"], pad_numbers, anchors, pad_sources),
    rotation.markdown(inputs["rotation"][1], rot_numbers, rot_source, rot_awaited),
    gpt_section.markdown(gpt_numbers, gpt_sources, gpt_names),
  ]
  report = {
    **pad_numbers,
    "rotation": rot_numbers,
    "gpt": gpt_numbers,
    "sources": {
      "padding": pad_sources,
      "rotation": {**rot_source, "awaited": rot_awaited},
      "gpt": gpt_sources,
    },
    "anchors": anchors,
    "figures": list(figures),
  }
  text = {MARKDOWN: "\n".join(sections), JSON: json.dumps(report, indent=2) + "\n"}
  return {**{name: t.encode() for name, t in text.items()}, **figures}


def build(cfg: Config, log=print) -> dict:
  """Writes the report into --out as one unit; returns {file name: bytes} as written."""
  cfg.validate()
  inputs = read_inputs(Path(cfg.results))  # every input checked before --out is touched
  with rundir.claim(cfg.out, COMMAND) as out:
    files = outputs(cfg, inputs)
    rundir.write_outputs(out, files, log)
  return files
