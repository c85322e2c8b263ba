"""`python -m hw2_jax padding-study`: the CNN padding study (part 1.1)."""

import argparse

from hw2_jax.padding.conv import CONV_TYPES
from hw2_jax.padding.model import NETS

_DEFAULT_OUT = "results/padding-study"


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "padding-study",
      help="train Net1/Net2 with six paddings on the shifted boxes data; write tables",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter,
      description=(
          "Trains Net1 (global max-pool head) and Net2 (dense head) with each padding type on "
          "the red/green boxes data, `--rounds` seeds per configuration trained together "
          "(jax.vmap, spread over all local devices), and writes padding_study.{json,md,csv,png} "
          "under --out: validation accuracy of the last epoch and accuracy of the best-validation "
          "parameters on the test set whose boxes are shifted by 16 px."))
  p.add_argument("--nets", nargs="+", default=list(NETS), metavar="NET",
                 help=f"networks to train, from {', '.join(NETS)}")
  p.add_argument("--conv-types", nargs="+", default=list(CONV_TYPES), metavar="TYPE",
                 help=f"padding types, from {', '.join(CONV_TYPES)}")
  p.add_argument("--rounds", type=int, default=10, help="seeds per configuration (0..rounds-1)")
  p.add_argument("--epochs", type=int, default=50, help="maximum epochs")
  p.add_argument("--patience", type=int, default=9,
                 help="stop after this many epochs without a lower validation loss")
  p.add_argument("--batch-size", type=int, default=200)
  p.add_argument("--num-train", type=int, default=2000)
  p.add_argument("--num-val", type=int, default=1000)
  p.add_argument("--num-test", type=int, default=1000)
  p.add_argument("--independent-val", action="store_true",
                 help="draw an independent validation set instead of the original's first "
                      "training images (labelled in the outputs)")
  p.add_argument("--out", default=_DEFAULT_OUT, help="output directory")
  p.add_argument("--resume", action="store_true",
                 help="keep the configurations already in --out's JSON (same settings) and "
                      "train only the missing ones")
  p.set_defaults(func=run)


def run(args) -> None:
  from hw2_jax.padding import study

  cfg = study.StudyConfig(
      nets=tuple(args.nets), conv_types=tuple(args.conv_types), rounds=args.rounds,
      epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
      num_train=args.num_train, num_val=args.num_val, num_test=args.num_test,
      independent_val=args.independent_val, out=args.out, resume=args.resume)
  result = study.run_study(cfg)
  print(f"wrote {cfg.out}/padding_study.{{json,md,csv,png}} ({len(result['results'])} nets)")
