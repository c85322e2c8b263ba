"""`python -m hw2_jax rotation-study`: the rotation study from one command."""

from hw2_jax.core import flags
from hw2_jax.rotation.config import Config


def register(subparsers) -> None:
  p = subparsers.add_parser(
    "rotation-study",
    help="CIFAR-10 CNN accuracy vs test rotation, with and without "
    "rotation augmentation (part 1.2).",
    description="Train the notebook's CNN on CIFAR-10 without and with RandomRotation(360) "
    "augmentation, evaluate both on the test set rotated by each angle, and "
    "write rotation_study.{json,md,png}, sample grids and checkpoints under "
    "--out. Models already checkpointed there with the same settings are reused, and one "
    "interrupted mid-way continues from its last saved epoch; Ctrl-C or SIGTERM finishes "
    "the epoch in progress, saves it and stops.",
    formatter_class=flags.HelpFormatter,
  )
  flags.add_flags(p, Config)
  p.set_defaults(func=run)


def run(args) -> None:
  from hw2_jax.rotation import study

  study.train_and_evaluate(flags.from_args(Config, args))
