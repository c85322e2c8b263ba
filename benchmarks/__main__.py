"""`python -m benchmarks [--quick]`: every benchmark, tables printed and written to results/bench/."""

import argparse
import importlib

from hw2_jax.core.host_memory import reexec_with_tuned_malloc

SUITES = ("benchmarks.padding_step", "benchmarks.gpt_tokens")


def main() -> None:
  parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
  parser.add_argument("--only", nargs="+", choices=[s.split(".")[-1] for s in SUITES],
                      help="run only these suites")
  parser.add_argument("--quick", action="store_true", help="fewer configurations and repeats")
  args = parser.parse_args()
  for name in SUITES:
    if args.only and name.split(".")[-1] not in args.only:
      continue
    importlib.import_module(name).main(["--quick"] if args.quick else [])


if __name__ == "__main__":
  reexec_with_tuned_malloc("benchmarks")
  main()
