"""The padding study as a user runs it, against its PyTorch comparator: wall seconds of whole
commands, each a process of its own (benchmarks/commands.py says how they are timed).

  python -m benchmarks.padding_command [--net Net1] [--conv-type fconv] [--seeds 10]
                                       [--epochs 5] [--repeats 1]

The comparator is `python -m benchmarks.padding_torch` (the original's training loop, one
round after another); the command `python -m hw2_jax padding-study --nets NET --conv-types
TYPE --seeds N --epochs E`. Writes padding_command.{json,md} into --out (default runs/bench;
refuses to replace them unless --overwrite).
"""

from benchmarks import commands, output, padding_torch

NAME = "padding_command"


def main(argv=None) -> dict:
  p = output.parser("benchmarks.padding_command", __doc__)
  padding_torch.add_run_flags(p, "rounds")
  p.add_argument("--repeats", type=int, default=1, help="times each command runs")
  output.add_flags(p, NAME, quick="2 rounds of 2 epochs")
  args = output.parse(p, argv, NAME)
  if args.quick:
    args.seeds, args.epochs = 2, 2
  sizes = ["--seeds", str(args.seeds), "--epochs", str(args.epochs)]
  seconds = commands.compare(
    ["benchmarks.padding_torch", "--net", args.net, "--conv-type", args.conv_type, *sizes],
    ["hw2_jax", "padding-study", "--nets", args.net, "--conv-types", args.conv_type, *sizes],
    args.repeats,
  )
  return commands.write(
    NAME,
    f"{args.net} {args.conv_type}, {args.seeds} rounds x {args.epochs} epochs",
    ("benchmarks.padding_torch", "padding-study"),
    seconds,
    args.out,
    net=args.net, conv_type=args.conv_type, seeds=args.seeds, epochs=args.epochs,
  )  # fmt: skip


if __name__ == "__main__":
  main()
