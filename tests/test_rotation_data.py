"""The class-folder loader, its cache, the tfds path (mocked) and the data errors."""

import sys

import chex
import numpy as np
import pytest
from PIL import Image

from hw2_jax.core.errors import ConfigError
from hw2_jax.rotation import data as data_lib
from hw2_jax.rotation.config import CLASSES


def make_folder(root, classes=("cat", "airplane"), per_class=3, seed=0):
  """DIR/{train,test}/<class>/NNNN.png with random 32x32 RGB images; returns them."""
  rng = np.random.default_rng(seed)
  made = {}
  for split in ("train", "test"):
    made[split] = []
    for name in classes:
      (root / split / name).mkdir(parents=True)
      for i in range(per_class):
        image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / split / name / f"{i:04d}.png")
        made[split].append((name, image))
  return made


def test_folder_loads_pixels_and_canonical_labels(tmp_path):
  made = make_folder(tmp_path / "d")
  out = data_lib.load_folder(tmp_path / "d", log=lambda *_: None)
  for split in ("train", "test"):
    images, labels = out[split]
    chex.assert_shape(images, (6, 32, 32, 3))
    chex.assert_type(images, np.uint8)
    # sorted class folders: airplane (0) before cat (3)
    assert labels.tolist() == [0, 0, 0, 3, 3, 3]
    expected = sorted(made[split], key=lambda t: CLASSES.index(t[0]))
    chex.assert_trees_all_equal(images, np.stack([im for _, im in expected]))


def test_cache_is_written_reused_and_refreshed(tmp_path, monkeypatch):
  make_folder(tmp_path / "d")
  before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "d").rglob("*"))
  first = data_lib.load_folder(tmp_path / "d", log=lambda *_: None)
  assert data_lib.cache_path(tmp_path / "d").is_file()  # in the project's cache folder
  assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "d").rglob("*")) == before

  def fail(path):
    raise AssertionError(f"decoded {path} despite the cache")

  monkeypatch.setattr(data_lib, "_decode", fail)
  logs = []
  second = data_lib.load_folder(tmp_path / "d", log=logs.append)
  assert "cached" in logs[-1]
  chex.assert_trees_all_equal(first, second)
  monkeypatch.undo()
  Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "d/train/cat/9999.png")
  third = data_lib.load_folder(tmp_path / "d", log=lambda *_: None)
  assert len(third["train"][1]) == 7


def test_cache_dir(tmp_path):
  make_folder(tmp_path / "d", per_class=1)
  data_lib.load_folder(tmp_path / "d", cache_dir=tmp_path / "cache", log=lambda *_: None)
  assert len(list((tmp_path / "cache").glob("cifar10_*.npz"))) == 1
  assert not data_lib.cache_path(tmp_path / "d").exists()


def test_missing_folder_names_the_source_and_the_fix(tmp_path):
  with pytest.raises(ConfigError, match=r"train.*not found.*--data-dir.*tensorflow-datasets"):
    data_lib.load_folder(tmp_path / "nowhere")
  (tmp_path / "empty" / "train" / "cat").mkdir(parents=True)
  (tmp_path / "empty" / "test").mkdir(parents=True)
  with pytest.raises(ConfigError, match="no .png/.jpg images"):
    data_lib.load_folder(tmp_path / "empty")


def test_unknown_class_and_wrong_size_name_the_path(tmp_path):
  make_folder(tmp_path / "a", per_class=1)
  (tmp_path / "a" / "train" / "zebra").mkdir()
  with pytest.raises(ConfigError, match="zebra"):
    data_lib.load_folder(tmp_path / "a")
  make_folder(tmp_path / "b", per_class=1)
  Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(tmp_path / "b/test/cat/0007.png")
  with pytest.raises(ConfigError, match=r"0007\.png.*28x28"):
    data_lib.load_folder(tmp_path / "b")


def test_tfds_with_mock_data():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=6):
    out = data_lib.load_tfds()
  for split in ("train", "test"):
    images, labels = out[split]
    chex.assert_shape(images, (6, 32, 32, 3))
    chex.assert_type(images, np.uint8)
    assert labels.min() >= 0 and labels.max() < 10


def test_tfds_without_tensorflow_names_the_extra(monkeypatch, tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")

  def not_prepared(*args, **kwargs):
    raise AssertionError("Dataset cifar10: could not find data in the data dir")

  monkeypatch.setattr(tfds, "data_source", not_prepared)
  monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow -> ImportError
  with pytest.raises(ConfigError, match=r"pip install -e '\.\[tfds\]'.*--data-dir"):
    data_lib.load_tfds(str(tmp_path))


def test_empty_class_folders_and_missing_test_classes_are_warned_about(tmp_path):
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  (tmp_path / "d" / "train" / "frog").mkdir()
  logs = []
  data_lib.load_folder(tmp_path / "d", log=logs.append)
  assert any("frog" in m and "holds no .png/.jpg images" in m for m in logs), logs
  missing = [m for m in logs if "the test images lack the classes" in m]
  assert len(missing) == 1 and "airplane" in missing[0] and "cat" not in missing[0]


def test_the_digest_is_of_the_images_as_read(tmp_path):
  images = np.zeros((3, 32, 32, 3), np.uint8)
  labels = np.arange(3, dtype=np.int32)
  base = data_lib.digest(images, labels)
  assert data_lib.digest(images.copy(), labels.copy()) == base
  changed = images.copy()
  changed[1, 0, 0, 0] = 1
  assert data_lib.digest(changed, labels) != base
  assert data_lib.digest(images, labels[::-1].copy()) != base


def test_tfds_offline_says_pass_data_dir_within_seconds(monkeypatch, tmp_path):
  """cifar10 not prepared and its download host unreachable: one line at once, instead of the
  download's minutes of retries."""
  tfds = pytest.importorskip("tensorflow_datasets")
  downloads = []

  def data_source(*args, download=False, **kwargs):
    downloads.append(download)
    raise AssertionError("Dataset cifar10: could not find data in the data dir")

  def unreachable(address, timeout):
    assert address == data_lib.DOWNLOAD_HOST and timeout <= 5
    raise OSError(101, "Network is unreachable")

  monkeypatch.setattr(tfds, "data_source", data_source)
  monkeypatch.setattr(data_lib, "_require_tensorflow", lambda data_dir: None)
  monkeypatch.setattr(data_lib.socket, "create_connection", unreachable)
  with pytest.raises(
    ConfigError, match=r"cannot be reached \(Network is unreachable\).*--data-dir"
  ):
    data_lib.load_tfds(str(tmp_path))
  assert downloads == [False]  # no download was tried
