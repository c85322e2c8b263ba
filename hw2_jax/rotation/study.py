"""train_and_evaluate: train both models (vmapped over seeds), evaluate at every angle, write the
JSON, table, figures and checkpoints.

A model whose checkpoint in the run is already there with the same training settings is
restored instead of trained again (an interrupted or partial study is completed, models trained
by separate runs are merged); a checkpoint of other settings is refused unless --overwrite,
which replaces the study. With --eval-only the models come from the checkpoints and so do the
settings recorded in the JSON.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from hw2_jax.core import checkpoint, devices, io, memory, rng, rundir
from hw2_jax.core.errors import ConfigError, Interrupted
from hw2_jax.rotation import data as data_lib
from hw2_jax.rotation import report, train
from hw2_jax.rotation.config import CLASSES, MODELS, TRAINING, Config
from hw2_jax.rotation.rotate import random_angles, rotate

OUTPUTS = (
  report.JSON,
  report.MARKDOWN,
  report.FIGURE,
  "samples_plain.png",
  "samples_augmented.png",
)


def train_model(cfg: Config, name: str, images_NxHxWxC, labels_N, log=print):
  """Trains the seeds of model kind `name`; returns (states, losses_ExS, seconds).

  Both kinds start from the same initial weights (same seed) and see the same batch order;
  only the augmentation differs. Seeds are padded to a multiple of the device count (the
  extra models are trained and dropped).
  """
  mesh = devices.mesh("seeds")
  seeds = devices.padded_size(cfg.seeds, mesh)
  images, labels = devices.put((images_NxHxWxC, labels_N), devices.replicated(mesh))
  n = images_NxHxWxC.shape[0]
  steps = -(-n // cfg.batch_size)
  states = devices.put(
    train.init_state(cfg.seed, seeds, cfg.learning_rate), devices.leading_axis_sharding(mesh, seeds)
  )
  step = lambda s, idx, mask, key, t: train.train_step(
    s,
    images,
    labels,
    idx,
    mask,
    key,
    t,
    augment=name == "augmented",
    max_angle=cfg.max_augment_angle,
    learning_rate=cfg.learning_rate,
    precision=cfg.precision,
  )
  losses, start = [], time.perf_counter()
  for epoch in range(cfg.epochs):
    shuffle_key, aug_key = train.epoch_keys(cfg.seed, epoch)
    idx_SxTxB, mask_TxB = devices.put(
      devices.fetch(train.epoch_batches(shuffle_key, seeds, n, cfg.batch_size)),
      devices.replicated(mesh),
    )
    step_losses, t0 = [], time.perf_counter()
    bar = tqdm(
      range(steps),
      desc=f"{name} epoch {epoch + 1}/{cfg.epochs}",
      unit="batch",
      disable=not devices.is_main_process() or None,
      leave=False,
    )
    for t in bar:
      states, loss_S = step(states, idx_SxTxB, mask_TxB, aug_key, jnp.int32(t))
      step_losses.append(loss_S)
      if t % 50 == 49 or t == steps - 1:
        recent = float(np.mean(np.stack(devices.fetch(step_losses[-50:]))[:, : cfg.seeds]))
        seen = min((t + 1) * cfg.batch_size, n) * cfg.seeds
        bar.set_postfix(loss=f"{recent:.3f}", img_per_s=f"{seen / (time.perf_counter() - t0):.0f}")
    epoch_loss_S = np.mean(np.stack(devices.fetch(step_losses)), axis=0)[: cfg.seeds]
    losses.append(epoch_loss_S)
    secs = time.perf_counter() - t0
    log(
      f"{name} epoch {epoch + 1}/{cfg.epochs}: loss "
      f"{' '.join(f'{v:.4f}' for v in epoch_loss_S)} ({secs:.1f} s, "
      f"{n * cfg.seeds / secs:.0f} img/s)"
    )
  jax.block_until_ready(states)
  return (
    states,
    np.stack(losses) if losses else np.zeros((0, cfg.seeds)),
    time.perf_counter() - start,
  )


def _manager(cfg: Config, name: str):
  return checkpoint.manager(io.as_path(cfg.checkpoints) / name, max_to_keep=1)


def _checkpointed(cfg: Config) -> dict:
  """{model: its checkpoint's meta} for the models the checkpoint folder holds."""
  found = {}
  for name in MODELS:
    if (io.as_path(cfg.checkpoints) / name).is_dir():
      mngr = _manager(cfg, name)
      if mngr.latest_step() is not None:
        found[name] = checkpoint.restore_meta(mngr)
  return found


def restore_model(cfg: Config, name: str):
  """(states, meta) of model `name`, its seeds padded for this run's devices and sharded."""
  mngr = _manager(cfg, name)
  meta = checkpoint.restore_meta(mngr)
  mesh = devices.mesh("seeds")
  saved = meta["config"]
  template = train.init_state(0, meta["seeds"], saved["learning_rate"])
  states, meta = checkpoint.restore(mngr, template)
  seeds = devices.padded_size(meta["seeds"], mesh)
  extra = seeds - meta["seeds"]
  if extra:  # more devices than saved seeds: fill with copies (their results are dropped)
    states = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], extra, 0)]), states)
  return devices.put(states, devices.leading_axis_sharding(mesh, seeds)), meta


def _settings_diff(ours: dict, theirs: dict) -> str:
  for key, value in ours.items():
    if theirs.get(key) != value:
      return f"--{key.replace('_', '-')} {theirs.get(key)} there, {value} here"
  return ""


def _plan(cfg: Config, out) -> tuple[Config, dict]:
  """(the run's config, {model: "train" | "restore"}), refusing what it cannot reuse."""
  found = _checkpointed(cfg)
  if cfg.eval_only:
    missing = [m for m in cfg.models if m not in found]
    if missing:
      raise ConfigError(
        f"no checkpoint of the {missing[0]} model in "
        f"{str(io.as_path(cfg.checkpoints) / missing[0])!r}; train first (run "
        "without --eval-only) or pass --checkpoint-dir."
      )
    saved = found[cfg.models[0]]["config"]
    run_cfg = dataclasses.replace(cfg, **{k: saved[k] for k in TRAINING if k != "data"})
    return run_cfg, {m: "restore" for m in cfg.models}
  if cfg.overwrite:
    rundir.remove(out, OUTPUTS)
    rundir.remove(io.as_path(cfg.checkpoints), [m for m in MODELS if m in found])
    return cfg, {m: "train" for m in cfg.models}
  ours = cfg.training()
  for name, meta in found.items():
    diff = _settings_diff(ours, {k: meta["config"].get(k) for k in TRAINING})
    if diff:
      rundir.refuse_existing(
        cfg.checkpoints,
        f"a trained {name} model with other settings ({diff})",
        flag="--checkpoint-dir" if cfg.checkpoint_dir else "--out",
      )
  if (io.as_path(out) / report.JSON).exists() and not found:
    rundir.refuse_existing(out, "a rotation study whose checkpoints are gone")
  names = list(dict.fromkeys([*cfg.models, *found]))
  return cfg, {m: "restore" if m in found else "train" for m in names}


def train_and_evaluate(cfg: Config, log=print) -> dict:
  cfg.validate()
  with rundir.claim(cfg.out) as out:
    if not cfg.eval_only:
      rundir.check_writable(cfg.checkpoints, "--checkpoint-dir")
    cfg, plan = _plan(cfg, out)
    try:
      return _run(cfg, plan, out, log)
    except KeyboardInterrupt:
      trained = [m for m in MODELS if m in _checkpointed(cfg)]
      kept = (
        f"the trained {' and '.join(trained)} model{'s' * (len(trained) > 1)} "
        f"{'are' if len(trained) > 1 else 'is'} saved in {cfg.checkpoints}"
        if trained
        else "no model finished training"
      )
      raise Interrupted(
        f"interrupted: {kept}; run the same command again to complete the study."
      ) from None


def _limit(split, limit, seed: int = 0):
  """A fixed random subset of `limit` images (class folders are sorted by class)."""
  images, labels = split
  if not limit or limit >= len(labels):
    return images, labels
  keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
  return images[keep], labels[keep]


def sample_indices(n: int, seed: int = 0, count: int = 25) -> np.ndarray:
  """The first `count` images of a fixed shuffled pass over the training set (an image
  folder is sorted by class, so its literal first images would all be airplanes)."""
  return np.random.default_rng(seed).permutation(n)[:count]


def _bytes_per_device(cfg: Config, n_train: int) -> float:
  """The data (uint8, on every device) and, per seed, a batch's activations (~24 KB an image
  in float32 for forward and backward) and its copy of the model (~3 MB with Adam)."""
  seeds = devices.padded_size(cfg.seeds, devices.mesh()) // len(jax.devices())
  return n_train * 3072 * 2 + seeds * (cfg.batch_size * 24 * 3072 * 4 + 3e6)


def _run(cfg: Config, plan: dict, out, log) -> dict:
  wall_start = time.perf_counter()
  dataset = data_lib.load(cfg.source, cfg.data_dir or cfg.tfds_dir, cfg.cache_dir, log=log)
  train_x, train_y = _limit(dataset["train"], cfg.train_limit)
  test_x, test_y = _limit(dataset["test"], cfg.test_limit)
  if cfg.batch_size > len(train_y):
    log(
      f"--batch-size {cfg.batch_size} is more than the {len(train_y)} training images; "
      f"training on batches of {len(train_y)} (one batch an epoch, as a DataLoader would)"
    )
    cfg = dataclasses.replace(cfg, batch_size=len(train_y))
  memory.check_fits(
    _bytes_per_device(cfg, len(train_y)),
    f"--seeds {cfg.seeds} with --batch-size {cfg.batch_size}",
    "lower --seeds or --batch-size",
  )
  log(f"train {train_x.shape[0]} images, test {test_x.shape[0]}; device {devices.describe()}")

  first = sample_indices(len(train_y), cfg.seed)
  sample_angles = random_angles(
    rng.stream(rng.root(cfg.seed), "samples"), len(first), cfg.max_augment_angle
  )
  if devices.is_main_process():
    report.save_samples(out / "samples_plain.png", train_x[first], train_y[first], CLASSES)
    report.save_samples(
      out / "samples_augmented.png",
      np.asarray(rotate(jnp.asarray(train_x[first]), sample_angles)),
      train_y[first],
      CLASSES,
      angles=np.asarray(sample_angles),
    )

  models = {}
  for name, action in plan.items():
    if action == "restore":
      states, meta = restore_model(cfg, name)
      losses, train_seconds = np.asarray(meta["losses"]), meta["train_seconds"]
      log(f"{name}: restored {cfg.checkpoints}/{name} ({meta['seeds']} seeds)")
    else:
      states, losses, train_seconds = train_model(cfg, name, train_x, train_y, log=log)
      meta = {
        "model": name,
        "seeds": cfg.seeds,
        "learning_rate": cfg.learning_rate,
        "epochs": cfg.epochs,
        "losses": losses.tolist(),
        "train_seconds": train_seconds,
        "config": cfg.to_json(),
      }
      if np.all(np.isfinite(losses)):
        checkpoint.save(_manager(cfg, name), cfg.epochs, states, meta)
      else:
        log(f"warning: {name}: not checkpointed, a seed's training loss became non-finite")
    t0 = time.perf_counter()
    acc_AxS = train.evaluate(
      states.params, test_x, test_y, cfg.angles, cfg.eval_batch_size, cfg.precision
    )[:, : meta["seeds"]]
    models[name] = report.model_entry(
      acc_AxS, np.asarray(losses), train_seconds, time.perf_counter() - t0
    )
    if "diverged_seeds" in models[name]:
      log(
        f"warning: {name}: the training loss of seed(s) {models[name]['diverged_seeds']} "
        "became non-finite; they are left out of the means"
      )
    log(
      f"{name}: accuracy "
      + ", ".join(f"{a:g}deg {v:.2f}%" for a, v in zip(cfg.angles, models[name]["accuracy"]))
    )
  result = {
    "config": {
      **cfg.to_json(),
      "train_images": int(train_x.shape[0]),
      "test_images": int(test_x.shape[0]),
    },
    "angles": cfg.to_json()["angles"],
    "models": models,
    "device": devices.describe(),
    "jax": jax.__version__,
    "wall_seconds": round(time.perf_counter() - wall_start, 1),
  }
  if devices.is_main_process():
    report.write_all(out, result)
  log(f"wrote {out}/rotation_study.{{json,md,png}}, samples_*.png ({result['wall_seconds']:.0f} s)")
  return result
