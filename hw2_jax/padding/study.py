"""The padding study: every (net, conv type) configuration, `rounds` seeds each.

`run_study(config)` validates the config, trains each configuration's seeds together
(`train.train_seeds`), and rewrites the result files after each configuration, so an
interrupted study keeps what it finished and `resume=True` picks up from there.
"""

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hw2_jax.core import devices, io
from hw2_jax.core.errors import ConfigError, check_choice, check_positive
from hw2_jax.padding import data, report
from hw2_jax.padding.conv import CONV_TYPES
from hw2_jax.padding.model import NETS, make_net
from hw2_jax.padding.train import TrainConfig, train_seeds


@dataclasses.dataclass(frozen=True)
class StudyConfig:
  nets: tuple[str, ...] = NETS
  conv_types: tuple[str, ...] = CONV_TYPES
  rounds: int = 10
  epochs: int = 50
  patience: int = 9
  batch_size: int = 200
  num_train: int = 2000
  num_val: int = 1000
  num_test: int = 1000
  independent_val: bool = False
  out: str = "results/padding-study"
  resume: bool = False

  def train_config(self) -> TrainConfig:
    return TrainConfig(epochs=self.epochs, patience=self.patience, batch_size=self.batch_size)

  def record(self) -> dict:
    """Every setting that decides the numbers (not where they are written)."""
    rec = dataclasses.asdict(self)
    for key in ("out", "resume"):
      rec.pop(key)
    rec.update(nets=list(self.nets), conv_types=list(self.conv_types),
               seeds=list(range(self.rounds)), optimizer=dataclasses.asdict(self.train_config()),
               validation="independent" if self.independent_val else "first training images")
    return rec


def validate(cfg: StudyConfig) -> Path:
  """Checks every setting and the output directory before any training starts."""
  for net in cfg.nets:
    check_choice("net", net, NETS)
  for conv_type in cfg.conv_types:
    check_choice("conv type", conv_type, CONV_TYPES)
  for name in ("rounds", "epochs", "patience", "batch_size", "num_train", "num_val", "num_test"):
    check_positive(name.replace("_", "-"), getattr(cfg, name))
  for split in ("num_train", "num_val", "num_test"):
    if getattr(cfg, split) % cfg.batch_size:
      raise ConfigError(
          f"--batch-size {cfg.batch_size} does not divide --{split.replace('_', '-')} "
          f"{getattr(cfg, split)}; pick a batch size that divides every split size.")
  return io.ensure_writable_dir(cfg.out)


def _previous_results(out: Path, cfg: StudyConfig) -> dict:
  path = out / report.JSON
  if not (cfg.resume and path.exists()):
    return {}
  previous = json.loads(path.read_text())
  if previous.get("config") != cfg.record():
    raise ConfigError(
        f"--resume: {path} was written with other settings; use the same flags or drop --resume.")
  return previous["results"]


def run_study(cfg: StudyConfig) -> dict:
  out = validate(cfg)
  results = _previous_results(out, cfg)
  splits = data.make_splits(cfg.num_train, cfg.num_val, cfg.num_test, cfg.independent_val)
  study = {"config": cfg.record(), "device": devices.describe(), "results": results}
  train_cfg = cfg.train_config()
  for net in cfg.nets:
    for conv_type in cfg.conv_types:
      if conv_type in results.get(net, {}):
        continue
      start = time.perf_counter()
      with tqdm(total=cfg.epochs, desc=f"{net} {conv_type:<9}", unit="epoch",
                leave=True, dynamic_ncols=True) as bar:
        # The first epoch also compiles: about 2 s on the CPU, up to a minute on a GPU.
        bar.set_postfix_str("compiling, first epoch")
        def on_epoch(epoch, metrics, state):
          active = np.asarray(state.active)[:cfg.rounds]
          bar.update()
          bar.set_postfix(val_acc=f"{np.asarray(metrics.val_acc)[:cfg.rounds].mean():.1f}%",
                          training=f"{active.sum()}/{cfg.rounds}")

        res = train_seeds(make_net(net, conv_type), train_cfg, splits, range(cfg.rounds),
                          on_epoch=on_epoch)
      results.setdefault(net, {})[conv_type] = {
          "val": [round(float(a), 2) for a in res.val_acc],
          "test": [round(float(a), 2) for a in res.test_acc],
          "epochs": [int(e) for e in res.epochs],
          "seconds": round(time.perf_counter() - start, 1),
      }
      report.write_all(out, study)
  return study
