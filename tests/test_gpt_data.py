"""Text loading (local file, default-book download) and on-device batches."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.core.errors import ConfigError
from hw2_jax.gpt import data


def test_batches_are_shifted_windows():
  N, T, B = 50, 8, 256
  data_N = jnp.arange(N, dtype=jnp.int32) * 3
  x, y = data.sample_batch(jax.random.key(0), data_N, B, T)
  chex.assert_shape([x, y], (B, T))
  chex.assert_type([x, y], jnp.int32)
  x, y = np.asarray(x) // 3, np.asarray(y) // 3
  np.testing.assert_array_equal(x[:, 1:] - x[:, :-1], np.ones((B, T - 1)))  # contiguous
  np.testing.assert_array_equal(y, x + 1)  # shifted by one
  assert x[:, 0].min() >= 0 and y[:, -1].max() <= N - 1


def test_window_starts_are_uniform_with_replacement():
  N, T = 14, 8  # N - T = 6 windows of T + 1
  x, _ = data.sample_batch(jax.random.key(1), jnp.arange(N), 6000, T)
  counts = np.bincount(np.asarray(x[:, 0]), minlength=N)
  assert counts[N - T :].sum() == 0
  chex.assert_trees_all_close(counts[: N - T] / 6000, np.full(N - T, 1 / 6), atol=0.02)


def test_steps_per_epoch():
  assert data.steps_per_epoch(540_241, 128, 128) == 4219
  assert data.steps_per_epoch(100, 8, 4) == 23
  assert data.steps_per_epoch(10, 8, 4) == 0


def test_default_book_is_downloaded_once(tmp_path, capsys):
  src = tmp_path / "book.txt"
  src.write_text("Once upon a time ’ a frog.\n" * 100, encoding="utf-8")
  cache = tmp_path / "cache"
  digest = data.sha256(src)
  text = data.load_text(None, cache, url=src.as_uri(), digest=digest)
  assert text == src.read_text(encoding="utf-8")
  assert (cache / data.DEFAULT_BOOK_NAME).is_file()
  assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no partial file left
  src.unlink()  # cached: no second download
  assert data.load_text(None, cache, url=src.as_uri(), digest=digest) == text


def test_failed_download_says_to_pass_txt_file(tmp_path):
  with pytest.raises(ConfigError, match="--txt-file"):
    data.load_text(None, tmp_path / "cache", url=(tmp_path / "missing.txt").as_uri())
  assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
  with pytest.raises(ConfigError, match="--txt-file"):
    data.download("http://127.0.0.1:9/book.txt", tmp_path / "b.txt", timeout=2)


def test_local_file_errors(tmp_path):
  with pytest.raises(ConfigError, match="not a file"):
    data.load_text(str(tmp_path / "nope.txt"))
  bad = tmp_path / "latin1.txt"
  bad.write_bytes("caf\xe9".encode("latin-1"))
  with pytest.raises(ConfigError, match="UTF-8"):
    data.load_text(str(bad))


def test_split_holds_out_the_last_fraction_without_overlap():
  ids = np.arange(1000)
  train_ids, val_ids = data.split(ids, 0.1)
  np.testing.assert_array_equal(train_ids, np.arange(900))
  np.testing.assert_array_equal(val_ids, np.arange(900, 1000))
  train_all, val_none = data.split(ids, 0.0)
  assert len(train_all) == 1000 and len(val_none) == 0


def test_eval_batches_are_the_same_every_time_and_inside_the_validation_text():
  val_N = jnp.arange(500, 700, dtype=jnp.int32)
  key = jax.random.key(3)
  x1, y1 = data.eval_batches(key, val_N, 4, 8, 16)
  x2, y2 = jax.jit(data.eval_batches, static_argnums=(2, 3, 4))(key, val_N, 4, 8, 16)
  chex.assert_shape([x1, y1], (4, 8, 16))
  chex.assert_trees_all_equal((x1, y1), (x2, y2))
  assert int(x1.min()) >= 500 and int(y1.max()) <= 699
  assert not np.array_equal(x1[0], x1[1])  # K different batches


def test_default_book_with_a_wrong_checksum_is_refused(tmp_path):
  src = tmp_path / "book.txt"
  src.write_text("not the assignment's book\n", encoding="utf-8")
  with pytest.raises(ConfigError, match="sha256.*not the expected.*--txt-file"):
    data.load_text(None, tmp_path / "cache", url=src.as_uri())
  assert not (tmp_path / "cache" / data.DEFAULT_BOOK_NAME).exists()
  assert data.DEFAULT_BOOK_URL.endswith(
    "318b2c7bfc783dc5df47f4f812f83ae9ed6a3dcc/assignment2/"
    "part2/assets/book_EN_grimms_fairy_tales.txt"
  )
