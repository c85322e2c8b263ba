"""The rotation study's settings: one frozen dataclass, its defaults the notebook's protocol.

Every field with help text is also a `rotation-study` flag (core/flags.py); `validate()` refuses
bad values with one line before any work; `training()` is what a checkpoint must match to be
reused instead of trained again.
"""

import dataclasses
import math

from hw2_jax.core.errors import ConfigError, check_positive
from hw2_jax.core.flags import option
from hw2_jax.core.precision import PRECISIONS

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MODELS = ("plain", "augmented")
DEFAULT_ANGLES = tuple(float(a) for a in range(0, 361, 30))
# The settings that decide a trained model (not where the data lies, nor the evaluation).
TRAINING = (
  "data",
  "train_limit",
  "epochs",
  "batch_size",
  "learning_rate",
  "seeds",
  "seed",
  "max_augment_angle",
  "precision",
)


@dataclasses.dataclass(frozen=True)
class Config:
  data: str = option(
    "tfds",
    "data source when --data-dir is not given: canonical CIFAR-10 via tensorflow-datasets",
    choices=("tfds",),
  )
  data_dir: str | None = option(
    None,
    "class-folder tree DIR/{train,test}/<class>/*.png|jpg (decoded once and cached next "
    "to the data or in --cache-dir); overrides --data",
  )
  tfds_dir: str | None = option(None, "tensorflow-datasets data dir for --data tfds")
  cache_dir: str | None = option(
    None, "where to cache the decoded image folder (default: inside --data-dir)"
  )
  out: str = option("runs/rotation-study", "output folder")
  checkpoint_dir: str | None = option(None, "checkpoints (default: OUT/checkpoints)")
  epochs: int = option(10, "training epochs")
  batch_size: int = option(64, "images per batch")
  learning_rate: float = option(1e-3, "Adam learning rate", aliases=("--lr",))
  seeds: int = option(1, "models of each kind, trained together (jax.vmap over every device)")
  seed: int = option(0, "base random seed")
  angles: tuple[float, ...] = option(
    DEFAULT_ANGLES, "test rotation angles in degrees (counter-clockwise)"
  )
  models: tuple[str, ...] = option(MODELS, "which models: " + ", ".join(MODELS))
  train_limit: int | None = option(
    None, "train on a fixed random subset of N training images (quick runs)"
  )
  test_limit: int | None = option(
    None, "evaluate on a fixed random subset of N test images (quick runs)"
  )
  precision: str = option(
    "fp32", "GEMM and convolution operands: fp32, or bf16 with float32 accumulation"
  )
  eval_only: bool = option(False, "re-evaluate the checkpointed models without training")
  resume: bool = option(
    False,
    "complete the study in --out: models already checkpointed with the same settings "
    "are restored, not trained again (the default whenever the settings match)",
  )
  overwrite: bool = option(False, "replace the study and checkpoints in --out")
  max_augment_angle: float = 360.0  # RandomRotation(360): uniform in [-360, 360]
  eval_batch_size: int = 1000

  @property
  def source(self) -> str:
    return "folder" if self.data_dir is not None else self.data

  @property
  def checkpoints(self) -> str:
    return self.checkpoint_dir or f"{self.out}/checkpoints"

  def validate(self) -> None:
    """Refuses bad values with one line, before any data is read or model trained."""
    check_positive("--epochs", self.epochs, 0 if self.eval_only else 1)
    check_positive("--batch-size", self.batch_size)
    check_positive("--seeds", self.seeds)
    if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
      raise ConfigError(f"--learning-rate must be a finite number > 0, got {self.learning_rate}.")
    for angle in self.angles:
      if not math.isfinite(angle):
        raise ConfigError(f"--angles must be finite numbers of degrees, got {angle}.")
    for name in self.models:
      if name not in MODELS:
        raise ConfigError(f"unknown model {name!r} in --models; choose from: {', '.join(MODELS)}.")
    for flag, value in (("--train-limit", self.train_limit), ("--test-limit", self.test_limit)):
      if value is not None:
        check_positive(flag, value)
    if self.data_dir is not None and self.tfds_dir is not None:
      raise ConfigError(
        "--data-dir and --tfds-dir both given; pass --data-dir for an image "
        "folder or --tfds-dir for tensorflow-datasets, not both."
      )
    if self.precision not in PRECISIONS:
      raise ConfigError(
        f"unknown --precision {self.precision!r}; choose from: {', '.join(PRECISIONS)}."
      )
    if self.overwrite and (self.resume or self.eval_only):
      raise ConfigError(
        "--overwrite replaces the trained models; it goes with neither --resume nor --eval-only."
      )

  def training(self) -> dict:
    """The settings a model's checkpoint must match to be reused."""
    return {k: self.source if k == "data" else getattr(self, k) for k in TRAINING}

  def to_json(self) -> dict:
    d = dataclasses.asdict(self)
    d.update(data=self.source, angles=[_number(a) for a in self.angles], models=list(self.models))
    return d


def _number(angle: float):
  return int(angle) if float(angle).is_integer() else angle
