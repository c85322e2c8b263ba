"""The padding study: every (net, conv type) configuration, `seeds` rounds each.

`run_study(config)` validates the config, claims --out (core/rundir.py), trains each missing
configuration's seeds together (`train.train_seeds`) and rewrites the result files after each
one, so an interrupted study keeps what it finished. A study already in --out with the same
settings is merged into (its configurations are kept, only the missing ones are trained); one
with other settings is refused unless --overwrite.
"""

import time

import numpy as np
from tqdm.auto import tqdm

from hw2_jax.core import devices, io, memory, rundir
from hw2_jax.core.errors import Interrupted
from hw2_jax.padding import data, report
from hw2_jax.padding.config import Config, decisive
from hw2_jax.padding.conv import CONV_TYPES, output_size
from hw2_jax.padding.model import CHANNELS, NETS, STRIDES, make_net
from hw2_jax.padding.train import train_seeds

OUTPUTS = (report.JSON, report.MARKDOWN, report.CSV, report.FIGURE)


def bytes_per_device(cfg: Config, num_devices: int) -> float:
  """A rough peak for one device: the data, and per seed the activations a step keeps
  (padded input, patches, output of each layer, about 4x for the backward pass) for one batch
  of the widest padding."""
  floats, size, c_in = 0, 32, 3
  for c_out, stride in zip(CHANNELS, STRIDES):
    padded = size + 4
    size = output_size(size, "fconv", stride)
    floats += c_in * padded**2 + 9 * c_in * size**2 + c_out * size**2
    c_in = c_out
  per_seed = 4 * 4 * floats * cfg.batch_size
  seeds = devices.padded_size(cfg.seeds, devices.mesh()) // num_devices
  data_bytes = 4 * 32 * 32 * 3 * (cfg.num_train + cfg.num_val + cfg.num_test)
  return seeds * per_seed + data_bytes


def _settings_diff(ours: dict, theirs: dict) -> str:
  for key, value in ours.items():
    if theirs.get(key) != value:
      show = lambda v, key=key: len(v) if key == "seeds" else v
      return f"--{key.replace('_', '-')} {show(theirs.get(key))} there, {show(value)} here"
  return ""


def _previous(out, cfg: Config) -> dict:
  """The results already in `out` that this run keeps (refusing a study it cannot merge)."""
  path = io.as_path(out) / report.JSON
  if cfg.overwrite:
    rundir.remove(out, OUTPUTS)
    return {}
  if not path.exists():
    return {}
  previous = io.read_json(
    path, "the study file", "pass --overwrite to start again, or another --out"
  )
  diff = _settings_diff(decisive(cfg.record()), decisive(previous.get("config", {})))
  if diff:
    rundir.refuse_existing(out, f"a padding study with other settings ({diff})")
  return previous.get("results", {})


def _ordered(results: dict) -> dict:
  return {
    net: {c: results[net][c] for c in CONV_TYPES if c in results[net]}
    for net in NETS
    if net in results
  }


def run_study(cfg: Config, log=print) -> dict:
  """Trains every configuration of `cfg` missing from --out; returns the study (as its JSON)."""
  cfg.validate()
  memory.check_fits(
    bytes_per_device(cfg, len(devices.mesh().devices.flat)),
    f"--seeds {cfg.seeds} with --batch-size {cfg.batch_size}",
    "lower --seeds or --batch-size, or use more devices",
  )
  with rundir.claim(cfg.out) as out:
    results = _previous(out, cfg)
    todo = [(n, c) for n in cfg.nets for c in cfg.conv_types if c not in results.get(n, {})]
    kept = sum(map(len, results.values()))
    if not todo:
      log(
        f"nothing to do: {out} already holds every configuration asked for "
        "(pass --overwrite to train them again)"
      )
      return {"results": results}
    if kept:
      log(f"keeping the configurations already in {out} ({kept}); training {len(todo)} more")
    try:
      return _train(cfg, out, results, todo, log)
    except KeyboardInterrupt:
      done = sum(map(len, results.values()))
      raise Interrupted(
        f"interrupted: saved in {out}: {done} of {kept + len(todo)} "
        "configurations; run the same command again to train the others."
      ) from None


def _train(cfg: Config, out, results: dict, todo, log) -> dict:
  """Trains the `todo` configurations into `results` (in place), writing after each one."""
  splits = data.make_splits(cfg.num_train, cfg.num_val, cfg.num_test, cfg.protocol)
  for net, conv_type in todo:
    start = time.perf_counter()
    with tqdm(
      total=cfg.epochs,
      desc=f"{net} {conv_type:<9}",
      unit="epoch",
      leave=True,
      dynamic_ncols=True,
      disable=not devices.is_main_process() or None,
    ) as bar:
      # The first epoch also compiles: seconds on a CPU, up to a minute on a GPU.
      bar.set_postfix_str("compiling, first epoch")

      def on_epoch(epoch, metrics, _state):
        bar.update()
        bar.set_postfix(
          val_acc=f"{np.mean(metrics.val_acc[: cfg.seeds]):.1f}%",
          training=f"{metrics.active[: cfg.seeds].sum()}/{cfg.seeds}",
        )

      res = train_seeds(
        make_net(net, conv_type, cfg.precision),
        cfg.recipe(),
        splits,
        range(cfg.seeds),
        on_epoch=on_epoch,
      )
    entry = {
      "val": [round(float(a), 2) for a in res.val_acc],
      **(
        {"similar": [round(float(a), 2) for a in res.similar_acc]}
        if res.similar_acc is not None
        else {}
      ),
      "test": [round(float(a), 2) for a in res.test_acc],
      "epochs": [int(e) for e in res.epochs],
      "seconds": round(time.perf_counter() - start, 1),
    }
    if res.diverged.any():
      entry["diverged"] = [int(i) for i in np.flatnonzero(res.diverged)]
      log(
        f"warning: {net} {conv_type}: the validation loss of round(s) "
        f"{[i + 1 for i in entry['diverged']]} became non-finite; they keep their last "
        "finite parameters and are left out of the means"
      )
    results.setdefault(net, {})[conv_type] = entry
    log(
      f"{net} {conv_type}: validation {np.mean(entry['val']):.2f}%, shifted test "
      f"{np.mean(entry['test']):.2f}% (means of {cfg.seeds} rounds), "
      f"{np.mean(entry['epochs']):.1f} epochs, {entry['seconds']:.0f} s"
    )
    ordered = _ordered(results)
    study = {
      "config": cfg.record(
        list(ordered), [c for c in CONV_TYPES if any(c in r for r in ordered.values())]
      ),
      "device": devices.describe(),
      "results": ordered,
    }
    if devices.is_main_process():
      report.write_all(out, study)
  return study
