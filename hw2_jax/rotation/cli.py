"""`python -m hw2_jax rotation-study`: the rotation study from one command."""

import argparse

from hw2_jax.core.errors import ConfigError, check_positive
from hw2_jax.rotation.config import DEFAULT_ANGLES, MODELS, Config


def register(subparsers) -> None:
  p = subparsers.add_parser(
      "rotation-study", help="CIFAR-10 CNN accuracy vs test rotation, with and without "
                             "rotation augmentation (part 1.2).",
      description="Train the notebook's CNN on CIFAR-10 without and with RandomRotation(360) "
                  "augmentation, evaluate both on the test set rotated by each angle, and "
                  "write rotation_study.{json,md,png}, sample grids and checkpoints.",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  d = Config()
  p.add_argument("--data", default=d.data, choices=("tfds",),
                 help="data source when --data-dir is not given: canonical CIFAR-10 via "
                      "tensorflow-datasets (preparing it needs pip install -e '.[tfds]')")
  p.add_argument("--data-dir", default=None,
                 help="class-folder tree DIR/{train,test}/<class>/*.png|jpg (decoded once and "
                      "cached next to the data or in --cache-dir); overrides --data")
  p.add_argument("--tfds-dir", default=None, help="tensorflow-datasets data dir for --data tfds")
  p.add_argument("--cache-dir", default=None,
                 help="where to cache the decoded image folder (default: inside --data-dir)")
  p.add_argument("--out", default=d.out, help="output directory")
  p.add_argument("--checkpoint-dir", default=None, help="checkpoints (default: OUT/checkpoints)")
  p.add_argument("--epochs", type=int, default=d.epochs)
  p.add_argument("--batch-size", type=int, default=d.batch_size)
  p.add_argument("--lr", type=float, default=d.learning_rate, help="Adam learning rate")
  p.add_argument("--seeds", type=int, default=d.seeds,
                 help="models of each kind trained together with jax.vmap")
  p.add_argument("--seed", type=int, default=d.seed, help="base random seed")
  p.add_argument("--angles", type=float, nargs="+", default=list(DEFAULT_ANGLES),
                 help="test rotation angles in degrees (counter-clockwise)")
  p.add_argument("--models", nargs="+", default=list(MODELS), help="which models: "
                 + ", ".join(MODELS))
  p.add_argument("--train-limit", type=int, default=None,
                 help="use only the first N training images (quick runs)")
  p.add_argument("--test-limit", type=int, default=None,
                 help="use only the first N test images (quick runs)")
  p.add_argument("--eval-only", action="store_true",
                 help="re-evaluate the checkpointed models without training")
  p.set_defaults(func=run)


def config_from_args(args) -> Config:
  check_positive("--epochs", args.epochs, 0 if args.eval_only else 1)
  check_positive("--batch-size", args.batch_size)
  check_positive("--seeds", args.seeds)
  if not args.lr > 0:
    raise ConfigError(f"--lr must be > 0, got {args.lr}.")
  for name in args.models:
    if name not in MODELS:
      raise ConfigError(f"unknown model {name!r} in --models; choose from: {', '.join(MODELS)}.")
  for flag, value in (("--train-limit", args.train_limit), ("--test-limit", args.test_limit)):
    if value is not None:
      check_positive(flag, value)
  if args.data_dir is not None and args.tfds_dir is not None:
    raise ConfigError("--data-dir and --tfds-dir both given; pass --data-dir for an image "
                      "folder or --tfds-dir for tensorflow-datasets, not both.")
  folder = args.data_dir is not None
  return Config(
      data="folder" if folder else args.data,
      data_dir=args.data_dir if folder else args.tfds_dir, cache_dir=args.cache_dir,
      out=args.out, checkpoint_dir=args.checkpoint_dir, epochs=args.epochs,
      batch_size=args.batch_size, learning_rate=args.lr, seeds=args.seeds, seed=args.seed,
      angles=tuple(int(a) if float(a).is_integer() else a for a in args.angles),
      train_limit=args.train_limit, test_limit=args.test_limit,
      models=tuple(dict.fromkeys(args.models)))


def run(args) -> None:
  cfg = config_from_args(args)
  from hw2_jax.rotation import study  # pylint: disable=import-outside-toplevel
  study.train_and_evaluate(cfg, eval_only=args.eval_only)
