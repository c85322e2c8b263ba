"""The padding study's settings: one frozen dataclass, its defaults the original protocol.

Every field with help text is also a `padding-study` flag (core/flags.py); `validate()` refuses
bad values with one line before any work; `record()` is what the result JSON keeps of them.
"""

import dataclasses

from hw2_jax.core.errors import ConfigError, check_choice, check_positive
from hw2_jax.core.flags import option
from hw2_jax.core.precision import PRECISIONS
from hw2_jax.padding.conv import CONV_TYPES
from hw2_jax.padding.data import PROTOCOLS
from hw2_jax.padding.model import NETS
from hw2_jax.padding.train import Recipe

# The settings that decide the numbers, as the result JSON records them; a study in --out
# with other values of these cannot be merged into.
DECISIVE = (
  "seeds",
  "epochs",
  "patience",
  "batch_size",
  "num_train",
  "num_val",
  "num_test",
  "protocol",
  "precision",
  "optimizer",
)


@dataclasses.dataclass(frozen=True)
class Config:
  nets: tuple[str, ...] = option(NETS, f"networks to train, from {', '.join(NETS)}", metavar="NET")
  conv_types: tuple[str, ...] = option(
    CONV_TYPES, f"padding types, from {', '.join(CONV_TYPES)}", metavar="TYPE"
  )
  seeds: int = option(
    10, "rounds per configuration: seeds 0..N-1, trained together", aliases=("--rounds",)
  )
  epochs: int = option(50, "maximum epochs")
  patience: int = option(9, "stop after this many epochs without a lower validation loss")
  batch_size: int = option(200, "images per batch")
  num_train: int = option(2000, "training images")
  num_val: int = option(1000, "validation images")
  num_test: int = option(1000, "test images (shifted by 16 px)")
  protocol: str = option(
    "original",
    "original: the original's splits (validation = the first training images, "
    "test = those boxes shifted); clean: validation, an unshifted 'similar' test "
    "set and the shifted test set each drawn from a stream of its own (replaces "
    "--independent-val)",
    choices=PROTOCOLS,
  )
  precision: str = option(
    "fp32",
    "GEMM operands: fp32, or bf16 with float32 accumulation (a TPU's default); "
    "everything else is float32",
  )
  out: str = option("runs/padding-study", "output folder")
  resume: bool = option(
    False,
    "continue the study in --out: train only the configurations it lacks (the "
    "default whenever --out holds a study with the same settings)",
  )
  overwrite: bool = option(False, "replace the study in --out")

  def recipe(self) -> Recipe:
    return Recipe(epochs=self.epochs, patience=self.patience, batch_size=self.batch_size)

  def validate(self) -> None:
    """Refuses bad values with one line, before anything is written or trained."""
    for net in self.nets:
      check_choice("net", net, NETS)
    for conv_type in self.conv_types:
      check_choice("conv type", conv_type, CONV_TYPES)
    check_choice("--precision", self.precision, PRECISIONS)
    for name in ("seeds", "epochs", "patience", "batch_size", "num_train", "num_val", "num_test"):
      check_positive("--" + name.replace("_", "-"), getattr(self, name))
    for split in ("num_train", "num_val", "num_test"):
      if getattr(self, split) % self.batch_size:
        raise ConfigError(
          f"--batch-size {self.batch_size} does not divide --{split.replace('_', '-')} "
          f"{getattr(self, split)}; pick a batch size that divides every split size."
        )
    if self.resume and self.overwrite:
      raise ConfigError("--resume and --overwrite contradict each other; pass one of them.")

  def record(self, nets=None, conv_types=None) -> dict:
    """The settings of the study for its JSON (`nets`/`conv_types`: those it holds)."""
    return {
      "nets": list(nets or self.nets),
      "conv_types": list(conv_types or self.conv_types),
      "seeds": list(range(self.seeds)),
      "epochs": self.epochs,
      "patience": self.patience,
      "batch_size": self.batch_size,
      "num_train": self.num_train,
      "num_val": self.num_val,
      "num_test": self.num_test,
      "protocol": self.protocol,
      "precision": self.precision,
      "optimizer": dataclasses.asdict(self.recipe()),
    }


def protocol_of(record: dict) -> str:
  """A recorded study's protocol (older records say `independent_val` instead)."""
  if "protocol" in record:
    return record["protocol"]
  return "independent validation" if record.get("independent_val") else "original"


def decisive(record: dict) -> dict:
  """The settings of a recorded study that decide its numbers (older records: fp32)."""
  old = {"precision": record.get("precision", "fp32"), "protocol": protocol_of(record)}
  return {k: old[k] if k in old else record.get(k) for k in DECISIVE}
