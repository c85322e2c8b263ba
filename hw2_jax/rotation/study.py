"""train_and_evaluate: train both models (vmapped over seeds), evaluate at every angle,
write the JSON, table, figures and checkpoints."""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from hw2_jax.core import checkpoint, devices
from hw2_jax.core.errors import ConfigError
from hw2_jax.core.io import ensure_writable_dir, write_json, write_text
from hw2_jax.rotation import data as data_lib
from hw2_jax.rotation import report, train
from hw2_jax.rotation.config import CLASSES, Config
from hw2_jax.rotation.rotate import random_angles, rotate


def _model_key(cfg: Config, purpose: int) -> jax.Array:
  return jax.random.fold_in(jax.random.PRNGKey(cfg.seed), purpose)


def train_model(cfg: Config, name: str, images_NxHxWxC, labels_N, log=print):
  """Trains `cfg.seeds` models of kind `name`; returns (states, losses_ExS, seconds).

  Both kinds start from the same initial weights (same seed) and see the same batch
  order; only the augmentation differs.
  """
  augment = name == "augmented"
  n = images_NxHxWxC.shape[0]
  steps = -(-n // cfg.batch_size)
  states = train.init_states(cfg.seed, cfg.seeds, cfg.learning_rate)
  step = lambda s, idx, mask, key, t: train.train_step(
      s, images_NxHxWxC, labels_N, idx, mask, key, t, augment=augment,
      max_angle=cfg.max_augment_angle, learning_rate=cfg.learning_rate)
  losses, start = [], time.perf_counter()
  for epoch in range(cfg.epochs):
    shuffle_key, aug_key = train.epoch_keys(cfg.seed, epoch)
    idx_SxTxB, mask_TxB = train.epoch_batches(shuffle_key, cfg.seeds, n, cfg.batch_size)
    step_losses, t0 = [], time.perf_counter()
    bar = tqdm(range(steps), desc=f"{name} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
               disable=None, leave=False)
    for t in bar:
      states, loss_S = step(states, idx_SxTxB, mask_TxB, aug_key, jnp.int32(t))
      step_losses.append(loss_S)
      if t % 50 == 49 or t == steps - 1:
        recent = float(jnp.mean(jnp.stack(step_losses[-50:])))
        seen = min((t + 1) * cfg.batch_size, n) * cfg.seeds
        bar.set_postfix(loss=f"{recent:.3f}",
                        img_per_s=f"{seen / (time.perf_counter() - t0):.0f}")
    epoch_loss_S = np.asarray(jnp.mean(jnp.stack(step_losses), axis=0))
    losses.append(epoch_loss_S)
    secs = time.perf_counter() - t0
    log(f"{name} epoch {epoch + 1}/{cfg.epochs}: loss "
        f"{' '.join(f'{v:.4f}' for v in epoch_loss_S)} ({secs:.1f} s, "
        f"{n * cfg.seeds / secs:.0f} img/s)")
  jax.block_until_ready(states)
  return states, np.stack(losses) if losses else np.zeros((0, cfg.seeds)), \
      time.perf_counter() - start


def _manager(cfg: Config, name: str):
  return checkpoint.manager(Path(cfg.checkpoints) / name, max_to_keep=1)


def check_checkpoints(cfg: Config) -> None:
  for name in cfg.models:
    directory = Path(cfg.checkpoints) / name
    if not directory.is_dir() or _manager(cfg, name).latest_step() is None:
      raise ConfigError(f"no checkpoint of the {name} model in {str(directory)!r}; train first "
                        f"(run without --eval-only) or pass --checkpoint-dir.")


def restore_model(cfg: Config, name: str):
  mngr = _manager(cfg, name)
  meta = checkpoint.restore_meta(mngr)
  template = train.init_states(0, meta["seeds"], meta["learning_rate"])
  states, meta = checkpoint.restore(mngr, template)
  return states, meta


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


def train_and_evaluate(cfg: Config, eval_only: bool = False, log=print) -> dict:
  out = ensure_writable_dir(cfg.out)
  if eval_only:
    check_checkpoints(cfg)
  else:
    ensure_writable_dir(cfg.checkpoints)
  wall_start = time.perf_counter()
  dataset = data_lib.load(cfg.data, cfg.data_dir, cfg.cache_dir, log=log)
  train_x, train_y = _limit(dataset["train"], cfg.train_limit)
  test_x, test_y = _limit(dataset["test"], cfg.test_limit)
  log(f"train {train_x.shape[0]} images, test {test_x.shape[0]}; device {devices.describe()}")

  first = sample_indices(len(train_y), cfg.seed)
  sample_angles = random_angles(_model_key(cfg, 2), len(first), cfg.max_augment_angle)
  report.save_samples(out / "samples_plain.png", train_x[first], train_y[first], CLASSES)
  report.save_samples(out / "samples_augmented.png",
                      np.asarray(rotate(jnp.asarray(train_x[first]), sample_angles)),
                      train_y[first], CLASSES, angles=np.asarray(sample_angles))

  train_x_dev, train_y_dev = jnp.asarray(train_x), jnp.asarray(train_y)
  models = {}
  for name in cfg.models:
    if eval_only:
      states, meta = restore_model(cfg, name)
      losses, train_seconds = np.asarray(meta["losses"]), meta["train_seconds"]
      log(f"{name}: restored {cfg.checkpoints}/{name} ({meta['seeds']} seeds)")
    else:
      states, losses, train_seconds = train_model(cfg, name, train_x_dev, train_y_dev, log=log)
      meta = {"model": name, "seeds": cfg.seeds, "learning_rate": cfg.learning_rate,
              "epochs": cfg.epochs, "losses": losses.tolist(), "train_seconds": train_seconds,
              "config": cfg.to_json()}
      checkpoint.save(_manager(cfg, name), cfg.epochs, states, meta)
    t0 = time.perf_counter()
    acc_AxS = train.evaluate(states["params"], test_x, test_y, cfg.angles,
                             cfg.eval_batch_size)
    log(f"{name}: accuracy " + ", ".join(
        f"{a:g}deg {v:.2f}%" for a, v in zip(cfg.angles, acc_AxS.mean(axis=1))))
    models[name] = {
        "accuracy": acc_AxS.mean(axis=1).round(4).tolist(),
        "accuracy_std": acc_AxS.std(axis=1).round(4).tolist(),
        "accuracy_per_seed": acc_AxS.T.round(4).tolist(),
        "train_loss_per_epoch": np.asarray(losses).mean(axis=1).round(6).tolist(),
        "train_loss_per_epoch_per_seed": np.asarray(losses).T.round(6).tolist(),
        "train_seconds": round(float(train_seconds), 1),
        "eval_seconds": round(time.perf_counter() - t0, 1),
    }
  result = {
      "config": {**cfg.to_json(), "eval_only": eval_only,
                 "train_images": int(train_x.shape[0]), "test_images": int(test_x.shape[0])},
      "angles": [float(a) if a != int(a) else int(a) for a in cfg.angles],
      "models": models,
      "machine": {"devices": devices.describe(), "jax": jax.__version__},
      "wall_seconds": round(time.perf_counter() - wall_start, 1),
  }
  write_json(out / "rotation_study.json", result)
  write_text(out / "rotation_study.md", report.table(result))
  report.save_accuracy_figure(out / "rotation_study.png", result)
  log(f"wrote {out}/rotation_study.{{json,md,png}}, samples_*.png "
      f"({result['wall_seconds']:.0f} s)")
  return result

