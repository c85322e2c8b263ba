"""The padding study's driver: every (net, conv type) configuration, `seeds` rounds each.

`train_and_evaluate(config)` validates the config, claims --out (core/rundir.py), and trains
each configuration --out lacks, all its seeds at once (`train.train_seeds`), writing the result
files after each one. A configuration in training is saved at the end of an epoch every
--checkpoint-every-s seconds and on Ctrl-C/SIGTERM (OUT/checkpoints/<net>-<conv type>), and a
rerun continues it from there with the numbers of an uninterrupted run; its checkpoint is
removed once its results are written. A study in --out with other deciding settings is
refused unless --overwrite.
"""

import collections
import contextlib
import time

import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from hw2_jax.core import checkpoint, devices, interrupt, io, memory, rundir
from hw2_jax.core.compile_cache import Compiles
from hw2_jax.core.errors import Interrupted
from hw2_jax.padding import data, report, train
from hw2_jax.padding.config import COMMAND, DECIDING, Config, saved_settings
from hw2_jax.padding.conv import CONV_TYPES, PADDINGS, mode_of, output_size
from hw2_jax.padding.model import CHANNELS, NETS, STRIDES, final_size, make_net

CHECKPOINTS = "checkpoints"
OUTPUTS = (*report.FILES, CHECKPOINTS)


def bytes_per_device(cfg: Config, mesh) -> float:
  """A rough peak for one device (core/memory.estimate): per seed, the largest net's
  parameters in five copies (parameters, best, gradients, Adadelta's two averages) and the
  activations a step keeps for one batch of the widest padding (padded input, 3x3 patches and
  output of each layer: within 1.3x of XLA's count of the compiled epoch, whose scan holds
  one batch at a time); the data on every device."""
  floats, size, c_in, params = 0, 32, 3, 0
  for c_out, stride in zip(CHANNELS, STRIDES):
    padded = size + 4
    size = output_size(size, "fconv", stride)
    floats += c_in * padded**2 + 9 * c_in * size**2 + c_out * size**2
    params += 9 * c_in * c_out
    c_in = c_out
  params += c_in * final_size("fconv") ** 2 * 64 + 64 * 2
  return memory.estimate(
    params=params,
    copies=5,
    activations=floats * cfg.batch_size,
    models=devices.padded_size(cfg.seeds, mesh) // mesh.devices.size,
    data_bytes=4 * 32 * 32 * 3 * (cfg.num_train + cfg.num_val + 2 * cfg.num_test),
  )


def _checkpoint_dir(out, net: str, conv_type: str):
  return io.as_path(out) / CHECKPOINTS / f"{net}-{conv_type}"


def _saved(out) -> tuple[dict | None, dict]:
  """(the settings the study in `out` was made with, or None; its results), read from its JSON
  or, before the first configuration finished, from a checkpoint of one in training."""
  path = io.as_path(out) / report.JSON
  if path.exists():
    study = report.load(path)
    return saved_settings(study["config"]), study["results"]
  folder = io.as_path(out) / CHECKPOINTS
  for ckpt in sorted(folder.iterdir()) if folder.is_dir() else []:
    with contextlib.closing(checkpoint.manager(ckpt)) as mngr:
      if mngr.latest_step() is not None:
        return checkpoint.restore_meta(mngr)["settings"], {}
  return None, {}


def _previous(out, cfg: Config) -> dict:
  """The results already in `out` that this run keeps (refusing a study it cannot continue)."""
  if cfg.overwrite:
    rundir.remove(out, OUTPUTS)
    return {}
  settings, results = _saved(out)
  if settings is not None:
    diffs = rundir.settings_diff(cfg.settings(), settings, DECIDING)
    if diffs:
      rundir.refuse(out, "a padding study", diffs)
  return results


def _ordered(results: dict) -> dict:
  return {
    net: {c: results[net][c] for c in CONV_TYPES if c in results[net]}
    for net in NETS
    if net in results
  }


def _study(cfg: Config, results: dict) -> dict:
  ordered = _ordered(results)
  conv_types = [c for c in CONV_TYPES if any(c in r for r in ordered.values())]
  return {
    "config": cfg.record(list(ordered), conv_types),
    "device": devices.describe(),
    "results": ordered,
  }


def train_and_evaluate(cfg: Config, log=tqdm.write) -> dict:
  """Trains every configuration of `cfg` missing from --out; returns the study (as its JSON)."""
  cfg.validate()
  cfg = cfg.with_out()
  mesh = devices.mesh("seeds")
  memory.check_fits(
    bytes_per_device(cfg, mesh),
    f"--seeds {cfg.seeds} with --batch-size {cfg.batch_size}",
    "lower --seeds or --batch-size, or use more devices",
  )
  with rundir.claim(cfg.out, COMMAND) as out:
    results = _previous(out, cfg)
    devices.barrier("padding-checked")  # every process has read --out before process 0 writes
    todo = [(n, c) for n in cfg.nets for c in cfg.conv_types if c not in results.get(n, {})]
    kept = sum(map(len, results.values()))
    if not todo:
      missing = [n for n in report.FILES if not (io.as_path(out) / n).exists()]
      if missing and results:  # e.g. a figure a full disk kept from being written
        files = report.outputs(report.load(io.as_path(out) / report.JSON))
        rundir.write_outputs(out, {n: files[n] for n in missing}, log)
      log(
        f"nothing to do: {out} already holds every configuration asked for "
        "(pass --overwrite to train them again)"
      )
      return _study(cfg, results)
    log(
      f"padding study into {out}: {len(todo)} configuration(s) x {cfg.seeds} seeds x up to "
      f"{cfg.epochs} epochs on {devices.describe()}"
      + (f"; keeping the {kept} already there" if kept else "")
    )
    try:
      with interrupt.stop_requests("the current epoch") as stop:
        return _train(cfg, out, results, todo, mesh, stop, log)
    except KeyboardInterrupt:
      raise Interrupted(
        f"interrupted: {out} keeps {sum(map(len, results.values()))} of {kept + len(todo)} "
        "configurations (one in training keeps its last save); run the same command again to "
        "continue."
      ) from None


def _train(cfg: Config, out, results: dict, todo, mesh, stop, log) -> dict:
  """Trains the `todo` configurations into `results` (in place), writing after each one; the
  study records the programs this run compiled and the seconds that took."""
  splits = data.make_splits(cfg.num_train, cfg.num_val, cfg.num_test, cfg.protocol)
  widths = collections.Counter((net, PADDINGS[conv_type][1]) for net, conv_type in todo)
  compiles = Compiles.start()
  total = sum(map(len, results.values())) + len(todo)
  with tqdm(
    total=len(todo),
    desc=f"study -> {out}",
    unit="config",
    position=0,
    dynamic_ncols=True,
    disable=not devices.is_main_process() or None,
  ) as study_bar:
    for k, (net, conv_type) in enumerate(todo):
      study_bar.set_postfix_str(f"configuration {k + 1} of {len(todo)}: {net} {conv_type}")
      try:
        shared = widths[net, PADDINGS[conv_type][1]] > 1
        entry = _train_one(cfg, out, net, conv_type, splits, mesh, stop, log, shared)
      except train.Stopped as s:
        done = sum(map(len, results.values()))
        raise Interrupted(
          f"interrupted ({stop.name}): {out} keeps {done} of {total} configurations, and "
          f"{net} {conv_type} saved after epoch {s.epoch} of at most {cfg.epochs} (the epoch "
          "in progress was finished first); run the same command again to continue."
        ) from None
      results.setdefault(net, {})[conv_type] = entry
      study = {**_study(cfg, results), "compile": Compiles.since(compiles)}
      rundir.write_outputs(out, report.outputs(study), log)
      if devices.is_main_process():
        rundir.remove(io.as_path(out) / CHECKPOINTS, [f"{net}-{conv_type}"])
        with contextlib.suppress(OSError):
          (io.as_path(out) / CHECKPOINTS).rmdir()  # when it was the last one
      study_bar.update()
  log(f"compiled {study['compile']['programs']} programs in {study['compile']['seconds']:.0f} s "
      f"({study['compile']['from_cache']} from the compilation cache)")  # fmt: skip
  return study


def _train_one(
  cfg: Config, out, net: str, conv_type: str, splits, mesh, stop, log, shared: bool
) -> dict:
  """One configuration's seeds, from its checkpoint if it has one; its JSON entry.

  `shared`: other paddings of this width train in this run too, so all of them train with one
  net (one compiled program) that takes the padding's mode as data. A width trained alone
  gets the net of its own padding: the same numbers and parameter tree (tests/test_padding_*),
  so a checkpoint of either net resumes in the other, and a smaller program (Net1 fconv, 10
  seeds: compiled in 6.1-6.2 s instead of 9.6-9.7 s on the 2-core CPU, docs/performance.md)."""
  model, recipe = make_net(net, conv_type, cfg.precision, shared=shared), cfg.recipe()
  mode = jnp.int32(mode_of(conv_type)) if shared else None
  state = train.initial_state(model, recipe, range(cfg.seeds), (32, 32, 3), mesh)
  mngr = checkpoint.manager(_checkpoint_dir(out, net, conv_type), max_to_keep=1)
  start, before = 0, 0.0
  if mngr.latest_step() is not None:
    state, meta = checkpoint.restore(mngr, state)
    start, before = mngr.latest_step(), meta["seconds"]
    log(f"{net} {conv_type}: continuing from epoch {start}, saved in {mngr.directory}")
  save = checkpoint.Periodic(mngr, cfg.checkpoint_every_s)
  t0 = time.perf_counter()
  meta = lambda: {
    "settings": cfg.settings(),
    "net": net,
    "conv_type": conv_type,
    "seconds": before + time.perf_counter() - t0,
  }
  with tqdm(
    total=cfg.epochs,
    initial=start,
    desc=f"{net} {conv_type:<9}",
    unit="epoch",
    position=1,
    leave=False,
    dynamic_ncols=True,
    disable=not devices.is_main_process() or None,
  ) as bar:
    bar.set_postfix_str("compiling, first epoch")  # seconds on a CPU, a minute on a GPU

    def on_epoch(epoch, metrics, state):
      bar.update()
      bar.set_postfix(
        val_acc=f"{np.mean(metrics.val_acc[: cfg.seeds]):.1f}%",
        training=f"{metrics.active[: cfg.seeds].sum()}/{cfg.seeds}",
      )
      save(epoch + 1, state, meta())

    try:
      res = train.train_seeds(
        model, recipe, splits, range(cfg.seeds), mesh=mesh, state=state, start=start,
        on_epoch=on_epoch, stop=stop, mode=mode,
      )  # fmt: skip
    except train.Stopped as s:
      save(s.epoch, s.state, meta(), force=True)
      raise
    finally:
      mngr.close()
  return _entry(cfg, net, conv_type, res, round(meta()["seconds"], 1), log)


def _entry(cfg: Config, net: str, conv_type: str, res, seconds: float, log) -> dict:
  rounded = lambda a: [round(float(v), 2) for v in a]
  entry = {
    "val": rounded(res.val_acc),
    **({"similar": rounded(res.similar_acc)} if res.similar_acc is not None else {}),
    "test": rounded(res.test_acc),
    "epochs": [int(e) for e in res.epochs],
    "seconds": seconds,
  }
  if res.diverged.any():
    entry["diverged"] = [int(i) for i in np.flatnonzero(res.diverged)]
    log(
      f"warning: {net} {conv_type}: the validation loss of round(s) "
      f"{[i + 1 for i in entry['diverged']]} became non-finite; they keep their last "
      "finite parameters and are left out of the means"
    )
  log(
    f"{net} {conv_type}: validation {np.mean(entry['val']):.2f}%, shifted test "
    f"{np.mean(entry['test']):.2f}% (means of {cfg.seeds} rounds), "
    f"{np.mean(entry['epochs']):.1f} epochs, {entry['seconds']:.0f} s"
  )
  return entry
