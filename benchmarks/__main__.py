"""`python -m benchmarks [--quick] [--txt-file TINY_SHAKESPEARE] [--data-dir CIFAR10]`: every
benchmark, tables printed and written to --out (default runs/bench; `--out results/bench
--overwrite` renews the committed record). Each benchmark runs in a process of its own, so that
its peak memory is its own. The GPT recipe benchmark needs tiny Shakespeare (--txt-file) and the
rotation command benchmark CIFAR-10's class folders (--data-dir); without them, they are
skipped. Where PyTorch is installed (the `bench` extra), the benchmarks that have a PyTorch
comparator run it too (their --reference). gpt_tokens runs twice: at the assignment's dropout
0.1, then at dropout 0 into gpt_tokens-dropout0/ under --out."""

import argparse
import subprocess
import sys

from benchmarks.output import torch_installed

SUITES = (
  "benchmarks.padding_step",
  "benchmarks.padding_command",
  "benchmarks.rotation_command",
  "benchmarks.gpt_tokens",
  "benchmarks.gpt_parts",
  "benchmarks.gpt_recipe",
)
WITH_REFERENCE = ("benchmarks.padding_step", "benchmarks.gpt_tokens")  # take --reference
AGAIN = {  # suites run a second time with other flags, into a folder of their own under --out
  # gpt_tokens runs at the assignment's dropout 0.1 (against a PyTorch GPT that drops out as
  # nanoGPT), then at dropout 0 (the same work as a lean PyTorch GPT)
  "benchmarks.gpt_tokens": (["--dropout", "0"], "gpt_tokens-dropout0")
}
NEEDS = {  # suites that need data: the flag that names it, and what it is
  "benchmarks.rotation_command": ("--data-dir", "CIFAR-10's class folders"),
  "benchmarks.gpt_recipe": ("--txt-file", "tiny Shakespeare"),
}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
  parser.add_argument(
    "--only", nargs="+", choices=[s.split(".")[-1] for s in SUITES], help="run only these suites"
  )
  parser.add_argument("--quick", action="store_true", help="fewer configurations and repeats")
  parser.add_argument("--out", default="runs/bench", help="output folder")
  parser.add_argument("--overwrite", action="store_true", help="replace earlier results there")
  parser.add_argument("--txt-file", help="tiny Shakespeare, for the GPT recipe benchmark")
  parser.add_argument("--data-dir", help="CIFAR-10 class folders, for the rotation command one")
  args = parser.parse_args(argv)
  torch = torch_installed()
  if not torch:
    print("PyTorch is not installed: the benchmarks run without their PyTorch comparators")
  common = ["--quick"] * args.quick + ["--overwrite"] * args.overwrite
  for name in SUITES:
    if args.only and name.split(".")[-1] not in args.only:
      continue
    extra = []
    if name in NEEDS:
      flag, what = NEEDS[name]
      value = getattr(args, flag[2:].replace("-", "_"))
      if value is None:
        print(f"{name.split('.')[-1]} skipped: pass {flag} with {what} to run it")
        continue
      extra = [flag, value]
    reference = ["--reference"] if torch and name in WITH_REFERENCE else []
    runs = [(args.out, [])]
    if name in AGAIN:
      again, folder = AGAIN[name]
      runs.append((f"{args.out}/{folder}", again))
    for out, other in runs:
      cmd = [sys.executable, "-m", name, "--out", out, *common, *extra, *reference, *other]
      status = subprocess.run(cmd).returncode
      if status:
        sys.exit(status)


if __name__ == "__main__":
  main()
