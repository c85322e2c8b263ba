"""`python -m hw2_jax report`: the homework's tables and figures from the committed results.

Reads every input first (load.py: a damaged file stops the build before anything is written),
computes the numbers (padding.py, rotation.py, gpt.py), draws the figures and writes
OUT/report.md, OUT/report.json and the PNGs beside them, each atomically. Trains nothing.
"""

from pathlib import Path

from hw2_jax.core import io
from hw2_jax.report import gpt, load, padding, rotation
from hw2_jax.report.config import Config

MARKDOWN, JSON = "report.md", "report.json"


def _record(found):
  """What may name a result's command and device: a GPT run's summary.json, a JSON file."""
  return found.get("summary", found) if isinstance(found, dict) else None


def build(cfg: Config) -> list:
  """Writes the report; returns the paths written."""
  cfg.validate()
  out = io.ensure_writable_dir(cfg.out)
  results = Path(cfg.results)
  anchors = load.data_file("anchors.json")

  # Read and check every input before anything is written.
  studies = {p: load.padding_study(results, p) for p in load.PADDING}
  rot_folder, rot_study = load.rotation_study(results)
  runs = {key: load.gpt_run(results, key) for key in load.GPT_RUNS}
  shakespeare = load.gpt_run(results, "gpt/shakespeare")
  recipe, nanogpt = load.gpt_recipe(results), load.nanogpt_log(results)

  pad_sources = {
    p: load.source(results, load.PADDING[p], studies[p]) for p in ("original", "clean", "bf16")
  }
  numbers = padding.compute(studies, anchors)
  rot_numbers = rotation.compute(rot_study)
  rot_source = load.source(results, rot_folder, rot_study)
  awaited_rot = (
    None if rot_folder == load.ROTATION[0] else load.source(results, load.ROTATION[0], None)
  )
  gpt_numbers = {
    "runs": {key.split("/")[-1]: gpt.run_numbers(r) for key, r in runs.items() if r},
    "awaited": {key: load.source(results, key)["command"] for key, r in runs.items() if r is None},
    "nanogpt_comparison": gpt.comparison(recipe, nanogpt, anchors),
  }
  gpt_inputs = {
    **runs,
    "gpt/shakespeare": shakespeare,
    load.GPT_RECIPE: recipe,
    load.NANOGPT_LOG: nanogpt,
  }
  gpt_sources = {
    key: {**load.source(results, key, _record(found)), "present": found is not None}
    for key, found in gpt_inputs.items()
  }

  # Figures.
  written = []
  padding.draw(out / padding.FIGURE, numbers, anchors)
  written.append(padding.FIGURE)
  for i, (name, m) in enumerate(rot_numbers.items(), start=1):
    rotation.draw(out / rotation.figure_name(name), name, m, i)
    written.append(rotation.figure_name(name))
  gpt_figures = {}
  for name, run in ((k.split("/")[-1], r) for k, r in runs.items() if r):
    gpt_figures[f"run:{name}"] = f"gpt_{name}_loss.png"
    gpt.draw_run(out / gpt_figures[f"run:{name}"], name, run)
    if gpt_numbers["runs"][name]["per_epoch"]:
      gpt_figures[f"epochs:{name}"] = f"gpt_{name}_epochs.png"
      gpt.draw_epochs(
        out / gpt_figures[f"epochs:{name}"], name, gpt_numbers["runs"][name]["per_epoch"]
      )
  if shakespeare and nanogpt:
    gpt_figures["vs_nanogpt"] = "gpt_vs_nanogpt.png"
    gpt.draw_vs_nanogpt(out / gpt_figures["vs_nanogpt"], shakespeare, nanogpt)
  written += gpt_figures.values()

  # Text.
  intro = (
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
  sections = [
    intro,
    padding.markdown(studies, numbers, anchors, pad_sources),
    rotation.markdown(rot_study, rot_numbers, rot_source, awaited_rot),
    gpt.markdown(gpt_numbers, gpt_sources, gpt_figures),
  ]
  report = {
    **numbers,
    "rotation": rot_numbers,
    "gpt": gpt_numbers,
    "sources": {
      "padding": pad_sources,
      "rotation": {**rot_source, "awaited": awaited_rot},
      "gpt": gpt_sources,
    },
    "anchors": anchors,
    "figures": written,
  }
  io.write_json(out / JSON, report)
  io.write_text(out / MARKDOWN, "\n".join(sections))
  return [out / MARKDOWN, out / JSON, *(out / f for f in written)]
