"""CIFAR-10 as uint8 arrays: tensorflow-datasets, or a class-folder tree with a cache.

Both return `{"train": (images_Nx32x32x3 uint8, labels_N int32), "test": (...)}` with the
canonical class order (`config.CLASSES`). A decoded folder is cached in the project's cache
folder (~/.cache/hw2_jax/cifar10, or --cache-dir), never inside the user's data. `digest` is
the checksum of what was read, which decides whether a trained model may be reused.
"""

import concurrent.futures
import hashlib
import logging
import os
import socket
import sys
from pathlib import Path

import numpy as np

from hw2_jax.core import io
from hw2_jax.core.errors import ConfigError
from hw2_jax.rotation.config import CLASSES

IMAGE_SHAPE = (32, 32, 3)
SPLITS = ("train", "test")
_SUFFIXES = (".png", ".jpg", ".jpeg")
_TFDS_FIX = (
  "`make rotation-study` installs it (or pip install -e '.[tfds]'), or pass "
  "--data-dir DIR with DIR/{train,test}/<class>/*.png|jpg"
)
# Where tensorflow-datasets downloads CIFAR-10 from: checked once before a download, so that
# without internet the error comes in seconds, not after the download's minutes of retries.
DOWNLOAD_HOST = ("www.cs.toronto.edu", 443)


def load(data_dir=None, tfds_dir=None, cache_dir=None, log=print) -> dict:
  """The class folders under `data_dir`, else canonical CIFAR-10 through tensorflow-datasets."""
  if data_dir is None:
    return load_tfds(tfds_dir)
  return load_folder(data_dir, cache_dir, log=log)


def digest(images, labels) -> str:
  """The sha256 of a split's pixels and labels, as read."""
  h = hashlib.sha256()
  h.update(np.ascontiguousarray(images).tobytes())
  h.update(np.ascontiguousarray(labels, np.int32).tobytes())
  return h.hexdigest()


# ----- tensorflow-datasets --------------------------------------------------------------


def load_tfds(data_dir=None) -> dict:
  """Canonical CIFAR-10 via `tfds.data_source` (reading needs no TensorFlow; preparing does)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    raise ConfigError(
      f"reading CIFAR-10 without --data-dir needs tensorflow-datasets, which is not installed; "
      f"{_TFDS_FIX}."
    ) from None
  logging.getLogger("absl").setLevel(logging.ERROR)  # tfds' warnings about its own metadata
  out = {}
  for split in SPLITS:
    try:
      source = tfds.data_source("cifar10", split=split, data_dir=data_dir, download=False)
    except Exception:
      _require_tensorflow(data_dir)
      _require_internet(data_dir)
      try:
        source = tfds.data_source("cifar10", split=split, data_dir=data_dir, download=True)
      except Exception as e:
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ConfigError(
          f"tensorflow-datasets could not download and prepare cifar10 in "
          f"{data_dir or 'its default data dir'} ({reason}); without internet, "
          f"pass --data-dir DIR with DIR/{{train,test}}/<class>/*.png|jpg."
        ) from None
    out[split] = _from_records(source, f"tfds cifar10 {split}")
  return out


def _require_internet(data_dir) -> None:
  try:
    socket.create_connection(DOWNLOAD_HOST, timeout=5).close()
  except OSError as e:
    where = data_dir or "the default tensorflow-datasets data dir"
    raise ConfigError(
      f"cifar10 is not prepared in {where} and {DOWNLOAD_HOST[0]}, where "
      f"tensorflow-datasets downloads it from, cannot be reached ({e.strerror or e}); "
      "without internet, pass --data-dir DIR with DIR/{train,test}/<class>/*.png|jpg."
    ) from None


def _require_tensorflow(data_dir) -> None:
  try:
    import tensorflow  # noqa: F401 (preparing cifar10 needs it; the import says if it is there)
  except ImportError:
    where = data_dir or "the default tensorflow-datasets data dir"
    raise ConfigError(
      f"cifar10 is not prepared in {where} and preparing it needs "
      f"TensorFlow, which is missing; {_TFDS_FIX}."
    ) from None


def _from_records(source, name: str):
  n = len(source)
  images = np.empty((n,) + IMAGE_SHAPE, np.uint8)
  labels = np.empty((n,), np.int32)
  for i in range(n):
    record = source[i]
    image = np.asarray(record["image"])
    if image.shape != IMAGE_SHAPE:
      raise ConfigError(f"{name} example {i} has shape {image.shape}, expected {IMAGE_SHAPE}.")
    images[i], labels[i] = image, int(record["label"])
  return images, labels


# ----- class folders --------------------------------------------------------------------


def list_folder(data_dir, warn=print) -> dict[str, list[tuple[Path, int]]]:
  """Finds DIR/{train,test}/<class>/*.{png,jpg}; refuses unknown classes and empty splits."""
  root = Path(data_dir)
  files = {}
  for split in SPLITS:
    split_dir = root / split
    if not split_dir.is_dir():
      raise ConfigError(
        f"image folder {str(split_dir)!r} not found; --data-dir needs "
        f"DIR/{{train,test}}/<class>/*.png|jpg (e.g. unpack cifar10-jpg.tar.gz and pass "
        f"its cifar10-jpg folder), or leave --data-dir out to use tensorflow-datasets."
      )
    entries = []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
      if class_dir.name not in CLASSES:
        raise ConfigError(
          f"unknown class folder {str(class_dir)!r}; class folders must be "
          f"among: {', '.join(CLASSES)}."
        )
      label = CLASSES.index(class_dir.name)
      images = [(p, label) for p in sorted(class_dir.iterdir()) if p.suffix.lower() in _SUFFIXES]
      if not images:
        warn(f"warning: class folder {str(class_dir)!r} holds no .png/.jpg images")
      entries += images
    if not entries:
      raise ConfigError(
        f"no .png/.jpg images under {str(split_dir)!r}/<class>/; --data-dir "
        f"needs DIR/{{train,test}}/<class>/*.png|jpg."
      )
    missing = sorted(set(range(len(CLASSES))) - {label for _, label in entries})
    if split == "test" and missing:
      warn(
        f"warning: the test images lack the classes {', '.join(CLASSES[i] for i in missing)}; "
        "the accuracy is over the classes present"
      )
    files[split] = entries
  return files


def _fingerprint(files) -> str:
  h = hashlib.sha256()
  for split in SPLITS:
    for path, label in files[split]:
      st = path.stat()
      h.update(f"{split}|{path.name}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
  return h.hexdigest()


def cache_path(data_dir, cache_dir=None) -> Path:
  """The decoded copy of `data_dir`: in `cache_dir`, default the project's cache folder."""
  key = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]
  return Path(cache_dir or io.cache_dir() / "cifar10") / f"cifar10_{key}.npz"


def _decode(path: Path) -> np.ndarray:
  from PIL import Image

  try:
    with Image.open(path) as im:
      image = np.asarray(im.convert("RGB"), np.uint8)
  except OSError as e:
    raise ConfigError(f"cannot decode image {str(path)!r} ({e}); remove or replace it.") from None
  if image.shape != IMAGE_SHAPE:
    raise ConfigError(
      f"image {str(path)!r} is {image.shape[1]}x{image.shape[0]}, expected "
      f"32x32 RGB like CIFAR-10; remove it or resize the data."
    )
  return image


def load_folder(data_dir, cache_dir=None, log=print) -> dict:
  """Decodes the tree once and caches it (in `cache_dir`, default ~/.cache/hw2_jax/cifar10)."""
  files = list_folder(data_dir, warn=log)
  fingerprint = _fingerprint(files)
  cache = cache_path(data_dir, cache_dir)
  if cache.is_file():
    try:
      with np.load(cache) as z:
        if str(z["fingerprint"]) == fingerprint:
          log(f"data: {cache} (cached)")
          return {s: (z[f"{s}_images"], z[f"{s}_labels"]) for s in SPLITS}
    except (OSError, KeyError, ValueError):
      pass
  out = {}
  with concurrent.futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
    for split in SPLITS:
      paths = [p for p, _ in files[split]]
      images = np.stack(list(pool.map(_decode, paths, chunksize=256)))
      labels = np.asarray([label for _, label in files[split]], np.int32)
      out[split] = (images, labels)
  try:
    with io.atomic_open(cache) as f:
      np.savez(
        f,
        fingerprint=np.asarray(fingerprint),
        **{f"{s}_images": out[s][0] for s in SPLITS},
        **{f"{s}_labels": out[s][1] for s in SPLITS},
      )
    log(f"data: decoded {data_dir}, cached in {cache}")
  except OSError as e:
    print(
      f"warning: could not write the cache {cache} ({e.strerror}); pass --cache-dir.",
      file=sys.stderr,
    )
  return out
