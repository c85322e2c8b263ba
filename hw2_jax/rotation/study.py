"""The rotation study's driver: data, train or resume each model, evaluate at every angle, write.

`train_and_evaluate(config)` claims --out (and --checkpoint-dir), reads the data, and for each
model kind restores its checkpoint when it finished training with the same deciding settings,
continues it from its last saved epoch when it did not, or trains it; then evaluates every
model on the rotated test set and writes the JSON, table and figures as one unit. A model in
training is saved at the end of an epoch every --checkpoint-every-s seconds and on Ctrl-C or
SIGTERM. A checkpoint of other deciding settings is refused unless --overwrite. With
--eval-only the models come from the checkpoints and so do the settings recorded.
"""

import dataclasses
import time

import jax
import numpy as np
from tqdm.auto import tqdm

from hw2_jax.core import checkpoint, devices, interrupt, io, memory, rundir
from hw2_jax.core.errors import ConfigError, Interrupted
from hw2_jax.rotation import data as data_lib
from hw2_jax.rotation import report, train
from hw2_jax.rotation.config import COMMAND, DECIDING, EVALUATION, MODELS, Config
from hw2_jax.rotation.model import footprint, make_model, num_params

OUTPUTS = (*report.FILES, "checkpoints")


def _manager(cfg: Config, name: str):
  return checkpoint.manager(io.as_path(cfg.checkpoints) / name, max_to_keep=1)


def _checkpointed(cfg: Config) -> dict:
  """{model: (its last saved epoch, meta)} of the checkpoints in --checkpoint-dir."""
  found = {}
  for name in MODELS:
    if (io.as_path(cfg.checkpoints) / name).is_dir():
      mngr = _manager(cfg, name)
      if mngr.latest_step() is not None:
        found[name] = (mngr.latest_step(), checkpoint.restore_meta(mngr))
      mngr.close()
  return found


def _limit(split, limit, seed: int = 0):
  """A fixed random subset of `limit` images (class folders are sorted by class)."""
  images, labels = split
  if not limit or limit >= len(labels):
    return images, labels
  keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
  return images[keep], labels[keep]


def _data(cfg: Config, log) -> dict:
  dataset = data_lib.load(cfg.data_dir, cfg.tfds_dir, cfg.cache_dir, log=log)
  train_x, train_y = _limit(dataset["train"], cfg.train_limit)
  test_x, test_y = _limit(dataset["test"], cfg.test_limit)
  return {
    "train": (train_x, train_y),
    "test": (test_x, test_y),
    "train_sha256": data_lib.digest(train_x, train_y),
    "test_sha256": data_lib.digest(test_x, test_y),
  }


def _plan(cfg: Config, out, data: dict) -> tuple[Config, dict]:
  """(the run's config, {model: (start epoch, meta or None)}), refusing what it cannot reuse."""
  found = _checkpointed(cfg)
  if cfg.eval_only:
    trained = lambda m: m in found and found[m][0] == found[m][1]["settings"]["epochs"]
    missing = [m for m in cfg.models if not trained(m)]
    if missing:
      raise ConfigError(
        f"no trained {missing[0]} model in {str(io.as_path(cfg.checkpoints) / missing[0])!r}; "
        "train it first (run without --eval-only) or pass --checkpoint-dir."
      )
    saved = found[cfg.models[0]][1]["settings"]
    run_cfg = dataclasses.replace(cfg, **{k: saved[k] for k in DECIDING if hasattr(cfg, k)})
    return run_cfg, {m: found[m] for m in cfg.models}
  if cfg.overwrite:
    rundir.remove(out, OUTPUTS)
    rundir.remove(io.as_path(cfg.checkpoints), [m for m in MODELS if m in found])
    return cfg, {m: (0, None) for m in cfg.models}
  ours = cfg.settings(data["train_sha256"])
  names = {"train_sha256": "the training images (checksum)", "data": "the data source"}
  for name, (_, meta) in found.items():
    diffs = rundir.settings_diff(ours, meta.get("settings", {}), DECIDING, names)
    if diffs:
      flag = "--checkpoint-dir" if cfg.checkpoint_dir else "--out"
      rundir.refuse(cfg.checkpoints, f"a trained {name} model", diffs, flag=flag)
  _check_evaluation(cfg, out, data, found)
  return cfg, {m: found.get(m, (0, None)) for m in dict.fromkeys([*cfg.models, *found])}


def _check_evaluation(cfg: Config, out, data: dict, found: dict) -> None:
  """Refuses to replace a study evaluated otherwise (other angles, test images) unless asked
  to re-evaluate (--eval-only), or one whose models' checkpoints are gone (the committed
  results keep none: training them again would replace them)."""
  path = io.as_path(out) / report.JSON
  if not path.exists():
    return
  study = report.load(path)
  gone = [m for m in study["models"] if m not in found]
  if gone:
    rundir.refuse(out, f"a rotation study whose {', '.join(gone)} checkpoints are gone")
  saved = study["config"]
  ours = {"test_sha256": data["test_sha256"], "test_limit": cfg.test_limit}
  ours["angles"] = cfg.record()["angles"]
  names = {"test_sha256": "the test images (checksum)"}
  diffs = rundir.settings_diff(ours, saved, EVALUATION, names)
  if diffs:
    rundir.refuse(out, "a rotation study evaluated otherwise (pass --eval-only to "
                  "re-evaluate its models)", diffs)  # fmt: skip


def bytes_per_device(cfg: Config, n_train: int, mesh) -> float:
  """A rough peak for one device (core/memory.estimate): per seed, the largest of `cfg.models`
  with five parameter copies (parameters, gradients, Adam's two moments, the update) and
  2.5x the values its layers output for a batch (what the backward pass keeps: XLA's count of
  the compiled step is 2.3x for the plain CNN, 3.0x for C4's); the training images (uint8)
  twice, the host's array and the device's copy, which on a CPU share the RAM."""
  params, floats = (max(sizes) for sizes in zip(*map(footprint, cfg.models)))
  return memory.estimate(
    params=params,
    copies=5,
    activations=2.5 * floats * min(cfg.batch_size, n_train),
    models=devices.padded_size(cfg.seeds, mesh) // mesh.devices.size,
    data_bytes=n_train * 3072 * 2,
  )


def train_and_evaluate(cfg: Config, log=tqdm.write) -> dict:
  cfg.validate()
  cfg = cfg.with_out()
  with rundir.claim(cfg.out, COMMAND) as out:
    if cfg.checkpoint_dir is None:
      return _run(cfg, out, log)
    with rundir.claim(cfg.checkpoint_dir, COMMAND, "--checkpoint-dir"):
      return _run(cfg, out, log)


def _run(cfg: Config, out, log) -> dict:
  wall_start = time.perf_counter()
  data = _data(cfg, log)
  cfg, plan = _plan(cfg, out, data)
  devices.barrier("rotation-checked")  # every process has read --out before process 0 writes
  mesh = devices.mesh("seeds")
  memory.check_fits(
    bytes_per_device(cfg, len(data["train"][1]), mesh),
    f"--seeds {cfg.seeds} with --batch-size {cfg.batch_size}",
    "lower --seeds or --batch-size",
  )
  log(
    f"rotation study into {out}: train {len(data['train'][1])} images, test "
    f"{len(data['test'][1])}, {cfg.seeds} seed(s), models {', '.join(plan)}; device "
    f"{devices.describe()}"
  )
  models = {}
  try:
    with interrupt.stop_requests("the current epoch") as stop:
      for name, (start, meta) in plan.items():
        models[name] = _model(cfg, name, start, meta, data, mesh, stop, log)
  except KeyboardInterrupt:
    raise Interrupted(
      f"interrupted: the models of {cfg.checkpoints} keep their last saved epoch; run the "
      "same command again to continue."
    ) from None
  result = {
    "config": cfg.record(
      train_images=len(data["train"][1]),
      test_images=len(data["test"][1]),
      train_sha256=data["train_sha256"],
      test_sha256=data["test_sha256"],
    ),  # fmt: skip
    "angles": cfg.record()["angles"],
    "models": models,
    "device": devices.describe(),
    "jax": jax.__version__,
    "wall_seconds": round(time.perf_counter() - wall_start, 1),
  }
  rundir.write_outputs(out, report.outputs(result, data["train"], cfg), log)
  return result


def _model(cfg: Config, name: str, start: int, meta, data, mesh, stop, log) -> dict:
  """Model kind `name` restored, continued or trained; its JSON entry after evaluation."""
  model, mngr = make_model(name, cfg.precision), _manager(cfg, name)
  stacked = devices.padded_size(cfg.seeds, mesh)
  losses, seconds = [], 0.0
  if meta is None:
    state = train.init_state(model, cfg.seed, stacked, cfg.learning_rate)
  else:
    template = train.init_state(model, cfg.seed, meta["stacked"], cfg.learning_rate)
    state, meta = checkpoint.restore(mngr, template)
    state = _restack(state, stacked)
    losses = [np.asarray(x, np.float32) for x in meta["losses"]]
    seconds = meta["train_seconds"]
    what = "restored" if start == cfg.epochs else f"continuing after epoch {start} from"
    log(f"{name}: {what} {mngr.directory}")
  state = devices.put(state, devices.leading_axis_sharding(mesh, stacked))
  if start < cfg.epochs:
    state, losses, seconds = _train(cfg, name, model, state, start, losses, seconds, data, mesh,
                                    mngr, stop, log)  # fmt: skip
  mngr.close()
  t0 = time.perf_counter()
  test_x, test_y = data["test"]
  acc_AxS = train.evaluate(model, state.params, test_x, test_y, cfg.angles, cfg.eval_batch_size)
  eval_s, size = time.perf_counter() - t0, num_params(state.params, stacked=True)
  entry = report.model_entry(acc_AxS[:, : cfg.seeds], np.stack(losses), seconds, eval_s, size)
  if "diverged_seeds" in entry:
    log(f"warning: {name}: the training loss of seed(s) {entry['diverged_seeds']} became "
        "non-finite; they are left out of the means")  # fmt: skip
  log(f"{name}: accuracy " + ", ".join(
    f"{a:g}deg {v:.2f}%" for a, v in zip(cfg.angles, entry["accuracy"])))  # fmt: skip
  return entry


def _restack(state, stacked: int):
  """A restored state with `stacked` seeds: this run may have more devices than the one that
  saved (extra seeds are copies, their results dropped) or fewer (extra seeds dropped)."""
  have = jax.tree.leaves(state)[0].shape[0]
  if have >= stacked:
    return jax.tree.map(lambda a: a[:stacked], state)
  return jax.tree.map(lambda a: np.concatenate([a, np.repeat(a[:1], stacked - have, 0)]), state)


def _train(cfg, name, model, state, start, losses, seconds, data, mesh, mngr, stop, log):
  """Epochs `start`.. of model `name`, saved periodically and on a stop; returns (state, the
  per-epoch losses of the real seeds, training seconds)."""
  images, labels = devices.put(data["train"], devices.replicated(mesh))
  save = checkpoint.Periodic(mngr, cfg.checkpoint_every_s)
  settings = cfg.settings(data["train_sha256"])
  stacked = jax.tree.leaves(state)[0].shape[0]
  meta = lambda: {"model": name, "settings": settings, "config": cfg.record(), "stacked": stacked,
                  "losses": [x.tolist() for x in losses], "train_seconds": seconds}  # fmt: skip
  epochs = train.train_epochs(
    model, state, images, labels, cfg, augment=name.endswith("augmented"), mesh=mesh,
    name=name, start=start, stop=stop,
  )  # fmt: skip
  for epoch, state, loss_S, secs in epochs:
    losses.append(loss_S[: cfg.seeds])
    seconds += secs
    n = len(labels)
    log(f"{name} epoch {epoch + 1}/{cfg.epochs}: loss "
        f"{' '.join(f'{v:.4f}' for v in loss_S[: cfg.seeds])} ({secs:.1f} s, "
        f"{n * cfg.seeds / secs:.0f} img/s)")  # fmt: skip
    finite = np.all(np.isfinite(np.stack(losses)))
    last = epoch + 1 == cfg.epochs
    stopping = not last and stop.requested(sync=True)
    if finite:
      save(epoch + 1, state, meta(), force=last or stopping)
    elif last:
      log(f"warning: {name}: not checkpointed, a seed's training loss became non-finite")
    if stopping:
      raise Interrupted(
        f"interrupted ({stop.name}): {name} saved after epoch {epoch + 1} of {cfg.epochs} in "
        f"{mngr.directory} (the epoch in progress was finished first); run the same command "
        "again to continue."
      )
  return state, losses, seconds
