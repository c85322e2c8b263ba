"""`python -m hw2_jax padding-study`: the CNN padding study (part 1.1)."""

from hw2_jax.core import flags
from hw2_jax.padding.config import Config


def register(subparsers) -> None:
  p = subparsers.add_parser(
    "padding-study",
    help="train Net1/Net2 with six paddings on the shifted boxes data; write tables",
    formatter_class=flags.HelpFormatter,
    description=(
      "Trains Net1 (global max-pool head) and Net2 (dense head) with each padding type on "
      "the red/green boxes data, --seeds rounds per configuration trained together "
      "(jax.vmap, spread over every device), and writes padding_study.{json,md,csv,png} "
      "under --out: validation accuracy of the last epoch and accuracy of the best-validation "
      "parameters on the test set whose boxes are shifted by 16 px (--protocol clean adds an "
      "unshifted test set). A study already in --out with the same settings is kept and "
      "completed. Ctrl-C or SIGTERM finishes the epoch in progress, saves it and stops; the "
      "same command continues from there. The full study (12 configurations x 10 seeds) takes "
      "about 2 hours on a 2-core CPU and minutes on a GPU; see the README."
    ),
  )
  flags.add_flags(p, Config)
  p.set_defaults(func=run)


def run(args) -> None:
  from hw2_jax.padding import study

  study.train_and_evaluate(flags.from_args(Config, args))
