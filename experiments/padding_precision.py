"""The padding study at float32 and at bfloat16 GEMMs side by side: do the conclusions of
Tables 1 and 2 hold at a TPU's default precision?

    python -m experiments.padding_precision [--fp32 DIR] [--bf16 DIR] [--out FILE]

reads DIR/padding_study.json of both studies (defaults: the committed results/padding-study
and results/padding-study-bf16, the latter made with
`python -m experiments.padding_study --precision bf16 --out results/padding-study-bf16`) and
writes the table of mean accuracies, epochs and seconds per configuration (default
results/padding-study-bf16/comparison.md; refuses to replace it unless --overwrite).
"""

import argparse
import sys

from hw2_jax.core import io, rundir
from hw2_jax.core.errors import ConfigError
from hw2_jax.padding import report


def main(argv) -> None:
  p = argparse.ArgumentParser(
    prog="python -m experiments.padding_precision",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument("--fp32", default="results/padding-study", help="the float32 study's folder")
  p.add_argument("--bf16", default="results/padding-study-bf16", help="the bf16 study's folder")
  p.add_argument("--out", default="results/padding-study-bf16/comparison.md", help="the table")
  p.add_argument("--overwrite", action="store_true", help="replace --out")
  args = p.parse_args(argv)
  out = io.as_path(args.out)
  rundir.check_new_files(out.parent, [out.name], args.overwrite)
  studies = {}
  for name, folder in (("fp32", args.fp32), ("bf16", args.bf16)):
    path = io.as_path(folder) / report.JSON
    if not path.is_file():
      raise ConfigError(f"no padding study in {folder!r} (no {report.JSON}); pass --{name} DIR")
    studies[name] = io.read_json(path, "the study", f"pass another --{name}")
  text = (
    "# Padding study: float32 against bfloat16 GEMMs\n\n"
    f"Means over the rounds that did not diverge; `{args.fp32}` and `{args.bf16}`. "
    "Seconds are each configuration's wall time as recorded by its run (the runs did not "
    "share the same machine load: compare speed with benchmarks/padding_step.py).\n\n"
    + report.compare(studies)
  )
  io.write_text(out, text)
  print(text + f"\nwrote {out}")


if __name__ == "__main__":
  try:
    main(sys.argv[1:])
  except ConfigError as e:
    sys.exit(f"error: {e}")
