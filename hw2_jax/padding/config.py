"""The padding study's settings: one frozen dataclass, its defaults the original protocol.

Every field with help text is also a `padding-study` flag (core/flags.py); `validate()` refuses
bad values with one line before any work. `Recipe` is the original's training recipe (Adadelta,
fixed batch order, early stopping), the part of the config the jitted steps see. `DECIDING`
names the settings that decide the numbers: a study in --out with other values of these is
never merged into.
"""

import dataclasses

from hw2_jax.core import rundir
from hw2_jax.core.errors import ConfigError, check_choice
from hw2_jax.core.flags import check, option, to_json
from hw2_jax.core.precision import PRECISIONS
from hw2_jax.padding.conv import CONV_TYPES
from hw2_jax.padding.data import PROTOCOLS
from hw2_jax.padding.model import NETS

COMMAND = "padding-study"
DEFAULT_OUT = "runs/padding-study"
DECIDING = (
  "seeds",
  "epochs",
  "patience",
  "batch_size",
  "num_train",
  "num_val",
  "num_test",
  "protocol",
  "precision",
  "learning_rate",
  "rho",
  "eps",
  "weight_decay",
)


@dataclasses.dataclass(frozen=True)
class Recipe:
  """The original's training recipe: torch.optim.Adadelta(lr, rho, eps, weight_decay), batches
  in a fixed order, early stopping on the validation loss."""

  epochs: int = 50
  patience: int = 9
  batch_size: int = 200
  learning_rate: float = 1.0
  rho: float = 0.9
  eps: float = 1e-6
  weight_decay: float = 5e-5


_RECIPE = Recipe()
_RUN_ONLY = ("out", "checkpoint_every_s", "resume", "overwrite")


@dataclasses.dataclass(frozen=True)
class Config:
  nets: tuple[str, ...] = option(NETS, f"networks to train, from {', '.join(NETS)}", metavar="NET")
  conv_types: tuple[str, ...] = option(
    CONV_TYPES, f"padding types, from {', '.join(CONV_TYPES)}", metavar="TYPE"
  )
  seeds: int = option(
    10, "rounds per configuration: seeds 0..N-1, trained together", aliases=("--rounds",), low=1
  )
  epochs: int = option(_RECIPE.epochs, "maximum epochs", low=1)
  patience: int = option(
    _RECIPE.patience, "stop after this many epochs without a lower validation loss", low=1
  )
  batch_size: int = option(_RECIPE.batch_size, "images per batch", low=1)
  num_train: int = option(2000, "training images", low=1)
  num_val: int = option(1000, "validation images", low=1)
  num_test: int = option(1000, "test images (shifted by 16 px; under clean also unshifted)", low=1)
  protocol: str = option(
    "original",
    "original: the original's splits (validation = the first training images, test = those "
    "boxes shifted); clean: validation, an unshifted 'similar' test set and the shifted test "
    "set each drawn from a stream of its own (replaces --independent-val)",
    choices=PROTOCOLS,
  )
  precision: str = option(
    "fp32",
    "GEMM operands: fp32, or bf16 with float32 accumulation (a TPU's default); everything "
    "else is float32",
    choices=PRECISIONS,
  )
  out: str | None = option(
    None,
    f"output folder (default: {DEFAULT_OUT} for the default settings, {DEFAULT_OUT}-<the "
    "settings that differ> otherwise)",
  )
  checkpoint_every_s: float = option(
    60.0,
    "save the configuration in training at the end of an epoch once this many seconds have "
    "passed since the last save (and on Ctrl-C/SIGTERM), so a crash loses at most that",
    metavar="S",
    low=0.0,
  )
  resume: bool = option(
    False,
    "continue the study in --out: train only the configurations it lacks, continuing one "
    "interrupted mid-way from its last saved epoch (the default whenever --out holds a study "
    "with the same settings)",
  )
  overwrite: bool = option(False, "replace the study in --out")
  learning_rate: float = _RECIPE.learning_rate
  rho: float = _RECIPE.rho
  eps: float = _RECIPE.eps
  weight_decay: float = _RECIPE.weight_decay

  def recipe(self) -> Recipe:
    return Recipe(
      epochs=self.epochs,
      patience=self.patience,
      batch_size=self.batch_size,
      learning_rate=self.learning_rate,
      rho=self.rho,
      eps=self.eps,
      weight_decay=self.weight_decay,
    )

  def validate(self) -> None:
    """Refuses bad values with one line, before anything is written or trained."""
    check(self)
    for net in self.nets:
      check_choice("net", net, NETS)
    for conv_type in self.conv_types:
      check_choice("conv type", conv_type, CONV_TYPES)
    for split in ("num_train", "num_val", "num_test"):
      if getattr(self, split) % self.batch_size:
        raise ConfigError(
          f"--batch-size {self.batch_size} does not divide --{split.replace('_', '-')} "
          f"{getattr(self, split)}; pick a batch size that divides every split size."
        )
    if self.resume and self.overwrite:
      raise ConfigError("--resume and --overwrite contradict each other; pass one of them.")

  def settings(self) -> dict:
    """The deciding settings, as `saved_settings` reads them back from a record."""
    return {k: getattr(self, k) for k in DECIDING}

  def with_out(self) -> "Config":
    """This config with --out resolved (core/rundir.default_out)."""
    if self.out is not None:
      return self
    out = rundir.default_out(DEFAULT_OUT, self.settings(), Config().settings(), DECIDING)
    return dataclasses.replace(self, out=out)

  def record(self, nets=None, conv_types=None) -> dict:
    """The study's config for its JSON (`nets`/`conv_types`: those it holds), without what
    only steers this run (where it writes, how often it saves)."""
    record = to_json(
      self,
      nets=list(nets or self.nets),
      conv_types=list(conv_types or self.conv_types),
      seeds=list(range(self.seeds)),
    )
    return {k: v for k, v in record.items() if k not in _RUN_ONLY}


def protocol_of(record: dict) -> str:
  """A recorded study's protocol (older records say `independent_val` instead)."""
  if "protocol" in record:
    return record["protocol"]
  return "independent validation" if record.get("independent_val") else "original"


def saved_settings(record: dict) -> dict:
  """The deciding settings of a recorded study, also from older records (seeds as a list,
  the Adadelta settings under "optimizer", no precision or protocol)."""
  old = {
    "precision": record.get("precision", "fp32"),
    "protocol": protocol_of(record),
    **{k: v for k, v in record.get("optimizer", {}).items() if k in DECIDING},
  }
  settings = {k: record.get(k, old.get(k)) for k in DECIDING}
  if isinstance(settings["seeds"], list):
    settings["seeds"] = len(settings["seeds"])
  return settings
