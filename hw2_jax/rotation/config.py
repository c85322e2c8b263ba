"""The rotation study's settings, as one typed dataclass (the notebook's defaults)."""

import dataclasses

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
           "ship", "truck")
MODELS = ("plain", "augmented")
DEFAULT_ANGLES = tuple(range(0, 361, 30))


@dataclasses.dataclass(frozen=True)
class Config:
  data: str = "tfds"  # "tfds" or "folder" (set by --data-dir)
  data_dir: str | None = None
  cache_dir: str | None = None
  out: str = "results/rotation-study"
  checkpoint_dir: str | None = None  # default: <out>/checkpoints
  epochs: int = 10
  batch_size: int = 64
  learning_rate: float = 1e-3
  seeds: int = 1
  seed: int = 0
  angles: tuple[float, ...] = DEFAULT_ANGLES
  max_augment_angle: float = 360.0  # RandomRotation(360): uniform in [-360, 360]
  eval_batch_size: int = 1000
  train_limit: int | None = None  # first N training images (None: all)
  test_limit: int | None = None
  models: tuple[str, ...] = MODELS

  @property
  def checkpoints(self) -> str:
    return self.checkpoint_dir or f"{self.out}/checkpoints"

  def to_json(self) -> dict:
    d = dataclasses.asdict(self)
    d["angles"] = list(self.angles)
    d["models"] = list(self.models)
    return d
