"""The rotation study as a user runs it, against its PyTorch comparator: wall seconds of whole
commands, each a process of its own (benchmarks/commands.py says how they are timed).

  python -m benchmarks.rotation_command --data-dir DIR [--epochs 1] [--repeats 1]

The comparator is `python -m benchmarks.rotation_torch` (the notebook's CNN, plain and
augmented, then the 13 test angles); the command `python -m hw2_jax rotation-study --data-dir
DIR --epochs E`, the same work. The decoded images are cached once before the timing (both
read hw2_jax/rotation/data's cache). Writes rotation_command.{json,md} into --out (default
runs/bench; refuses to replace them unless --overwrite).
"""

from benchmarks import commands, output
from hw2_jax.rotation import data

NAME = "rotation_command"


def main(argv=None) -> dict:
  p = output.parser("benchmarks.rotation_command", __doc__)
  p.add_argument("--data-dir", required=True, help="CIFAR-10 class folders")
  p.add_argument("--epochs", type=int, default=1, help="training epochs of each model")
  p.add_argument("--repeats", type=int, default=1, help="times each command runs")
  output.add_flags(p, NAME, quick="the same (one epoch is the least)")
  args = output.parse(p, argv, NAME)
  data.load(args.data_dir)  # decoded and cached before any command is timed
  epochs = ["--data-dir", args.data_dir, "--epochs", str(args.epochs)]
  seconds = commands.compare(
    ["benchmarks.rotation_torch", *epochs], ["hw2_jax", "rotation-study", *epochs], args.repeats
  )
  return commands.write(
    NAME,
    f"plain and augmented CNN, {args.epochs} epoch(s) each, then 13 test angles",
    ("benchmarks.rotation_torch", "rotation-study"),
    seconds,
    args.out,
    epochs=args.epochs,
  )


if __name__ == "__main__":
  main()
