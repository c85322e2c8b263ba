"""The rotation study's settings: one frozen dataclass, its defaults the notebook's protocol.

Every field with help text is also a `rotation-study` flag (core/flags.py); `validate()` refuses
bad values with one line before any work. `DECIDING` names what decides a trained model: a
checkpoint made with other values is never reused. The data decide it through the checksum of
the training images actually read (`train_sha256`), so a renamed or edited folder is noticed.
`EVALUATION` names what decides the evaluation: a study evaluated otherwise is replaced only
with --eval-only (or --overwrite).
"""

import dataclasses

from hw2_jax.core import rundir
from hw2_jax.core.errors import ConfigError
from hw2_jax.core.flags import check, option, to_json
from hw2_jax.core.precision import PRECISIONS

COMMAND = "rotation-study"
DEFAULT_OUT = "runs/rotation-study"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# plain: trained on upright images; augmented: with RandomRotation(360); c4, c4-augmented: the
# C4-equivariant CNN (model.py) without and with the augmentation.
MODELS = ("plain", "augmented", "c4", "c4-augmented")
DEFAULT_MODELS = ("plain", "augmented")
DEFAULT_ANGLES = tuple(float(a) for a in range(0, 361, 30))
DECIDING = (
  "data",
  "train_sha256",
  "train_limit",
  "epochs",
  "batch_size",
  "learning_rate",
  "seeds",
  "seed",
  "max_augment_angle",
  "precision",
)
EVALUATION = ("test_sha256", "test_limit", "angles")


@dataclasses.dataclass(frozen=True)
class Config:
  data_dir: str | None = option(
    None,
    "class-folder tree DIR/{train,test}/<class>/*.png|jpg, decoded once and cached in "
    "--cache-dir (default: canonical CIFAR-10 through tensorflow-datasets, downloaded once)",
  )
  tfds_dir: str | None = option(None, "tensorflow-datasets data dir (without --data-dir)")
  cache_dir: str | None = option(
    None, "where decoded image folders are cached (default: ~/.cache/hw2_jax/cifar10)"
  )
  out: str | None = option(
    None,
    f"output folder (default: {DEFAULT_OUT} for the default settings, {DEFAULT_OUT}-<the "
    "settings that differ> otherwise)",
  )
  checkpoint_dir: str | None = option(None, "checkpoints (default: OUT/checkpoints)")
  epochs: int = option(10, "training epochs", low=1)
  batch_size: int = option(64, "images per batch", low=1)
  learning_rate: float = option(1e-3, "Adam learning rate", aliases=("--lr",), above=0.0)
  seeds: int = option(
    1, "models of each kind, trained together (jax.vmap over every device)", low=1
  )
  seed: int = option(0, "base random seed")
  angles: tuple[float, ...] = option(
    DEFAULT_ANGLES, "test rotation angles in degrees (counter-clockwise)", low=-1e6, high=1e6
  )
  models: tuple[str, ...] = option(
    DEFAULT_MODELS,
    "which models: plain and augmented (the notebook's CNN, without and with random "
    "rotations), c4 and c4-augmented (the C4-equivariant CNN, the same two ways)",
    choices=MODELS,
    metavar="MODEL",
  )
  train_limit: int | None = option(
    None, "train on a fixed random subset of N training images (quick runs)", low=1
  )
  test_limit: int | None = option(
    None, "evaluate on a fixed random subset of N test images (quick runs)", low=1
  )
  precision: str = option(
    "fp32",
    "GEMM and convolution operands: fp32, or bf16 with float32 accumulation",
    choices=PRECISIONS,
  )
  checkpoint_every_s: float = option(
    60.0,
    "save a model in training at the end of an epoch once this many seconds have passed "
    "since the last save (and on Ctrl-C/SIGTERM), so a crash loses at most that",
    metavar="S",
    low=0.0,
  )
  eval_only: bool = option(
    False, "re-evaluate the checkpointed models (e.g. at other --angles) without training"
  )
  resume: bool = option(
    False,
    "complete the study in --out: models checkpointed with the same settings are restored "
    "or continued from their last epoch (the default whenever the settings match)",
  )
  overwrite: bool = option(False, "replace the study and checkpoints in --out")
  max_augment_angle: float = 360.0  # RandomRotation(360): uniform in [-360, 360]
  eval_batch_size: int = 1000

  @property
  def source(self) -> str:
    return "folder" if self.data_dir is not None else "tfds"

  @property
  def checkpoints(self) -> str:
    return self.checkpoint_dir or f"{self.out}/checkpoints"

  def validate(self) -> None:
    """Refuses bad values with one line, before any data is read or model trained."""
    check(self)
    if self.data_dir is not None and self.tfds_dir is not None:
      raise ConfigError(
        "--data-dir and --tfds-dir both given; pass --data-dir for an image "
        "folder or --tfds-dir for tensorflow-datasets, not both."
      )
    if self.overwrite and (self.resume or self.eval_only):
      raise ConfigError(
        "--overwrite replaces the trained models; it goes with neither --resume nor --eval-only."
      )

  def settings(self, train_sha256: str | None = None) -> dict:
    """The deciding settings (the checksum of the training images once they are read)."""
    return {
      **{k: getattr(self, k) for k in DECIDING if k not in ("data", "train_sha256")},
      "data": self.source,
      "train_sha256": train_sha256,
    }

  def with_out(self) -> "Config":
    """This config with --out resolved (core/rundir.default_out; the data by their source)."""
    if self.out is not None:
      return self
    keys = [k for k in DECIDING if k != "train_sha256"] + ["test_limit", "angles"]
    ours = {**self.settings(), "test_limit": self.test_limit, "angles": self.angles}
    default = Config()
    theirs = {**default.settings(), "test_limit": None, "angles": default.angles}
    return dataclasses.replace(self, out=rundir.default_out(DEFAULT_OUT, ours, theirs, keys))

  def record(self, **extra) -> dict:
    return to_json(self, data=self.source, angles=[_number(a) for a in self.angles], **extra)


def _number(angle: float):
  return int(angle) if float(angle).is_integer() else angle
