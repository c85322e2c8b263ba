"""The report's settings: --results (read) and --out (written), checked before any work."""

import dataclasses
from pathlib import Path

from hw2_jax.core.errors import ConfigError
from hw2_jax.core.flags import check, option
from hw2_jax.report import load

# What the report cannot do without: the homework's own protocol, one rotation study, its GPT run.
REQUIRED = (
  (f"{load.PADDING['original']}/{load.PADDING_JSON}",),
  tuple(f"{f}/{load.ROTATION_JSON}" for f in load.ROTATION),
  (f"{load.GPT_RUNS[0]}/metrics.jsonl",),
)


@dataclasses.dataclass(frozen=True)
class Config:
  results: str = option("results", "folder of the committed result files (only read)")
  out: str = option("runs/report", "output folder: report.md, report.json and the figures")

  def validate(self) -> None:
    """Refuses, in one line, a flag outside its range (core/flags.check) and a --results folder
    without the required result files."""
    check(self)
    results = Path(self.results)
    if not results.is_dir():
      raise ConfigError(
        f"--results {self.results!r} is not a folder; pass the results/ folder of a checkout "
        "(the default, results, from the repository root)."
      )
    for alternatives in REQUIRED:
      if not any((results / a).is_file() for a in alternatives):
        raise ConfigError(
          f"--results {self.results!r} has no {' or '.join(alternatives)}; pass the results/ "
          "folder of a checkout, or restore the file with git checkout."
        )
