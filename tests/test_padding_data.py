"""The boxes data equals an independent re-statement of the original generator's rules."""

import chex
import numpy as np

from hw2_jax.padding import data


def _original_rules(num_samples, shift=0):
  """Written as the original script does it: global legacy RNG reseeded, NCHW, then NHWC."""
  np.random.seed(42)
  img_size, box, off = 32, 4, 32 - 4
  images = np.zeros((num_samples, 3, img_size, img_size), np.float32)
  labels = np.zeros(num_samples, np.int32)
  for i in range(num_samples):
    x1 = np.random.randint(int(off / 2 - 4))
    y1 = np.random.randint(int(-off / 6), int(off / 6))
    x2 = np.random.randint(x1, off)
    y2 = np.random.randint(int(-off / 6), int(off / 6))
    while abs(x1 - x2) < 5:
      x2 = np.random.randint(x1, off)
      y2 = np.random.randint(int(-off / 6), int(off / 6))
    if i % 2 == 0:  # red left of green, near the top; the test set moves it down
      yo = 7 + shift
      images[i, 0, yo + y1 : yo + y1 + box, x1 : x1 + box] = 1
      images[i, 1, yo + y2 : yo + y2 + box, x2 : x2 + box] = 1
    else:  # green left of red, near the bottom; the test set moves it up
      yo = 23 - shift
      images[i, 1, yo + y1 : yo + y1 + box, x1 : x1 + box] = 1
      images[i, 0, yo + y2 : yo + y2 + box, x2 : x2 + box] = 1
      labels[i] = 1
  return images.transpose(0, 2, 3, 1), labels


def test_splits_match_the_original_rules_bit_for_bit():
  state = np.random.get_state()
  splits = data.make_splits(num_train=300, num_val=120, num_test=100)
  # The library leaves numpy's global RNG alone.
  np.testing.assert_array_equal(np.random.get_state()[1], state[1])
  x, y = _original_rules(300)
  np.testing.assert_array_equal(splits["train"][0], x)
  np.testing.assert_array_equal(splits["train"][1], y)
  np.testing.assert_array_equal(splits["val"][0], x[:120])  # reseeded: the first train images
  xt, yt = _original_rules(100, shift=16)
  np.testing.assert_array_equal(splits["test"][0], xt)
  np.testing.assert_array_equal(splits["test"][1], yt)


def test_types_shapes_and_box_contents():
  splits = data.make_splits(num_train=50, num_val=20, num_test=30)
  for name, n in (("train", 50), ("val", 20), ("test", 30)):
    x, y = splits[name]
    chex.assert_shape(x, (n, 32, 32, 3))
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(y, np.arange(n) % 2)
    # one 4x4 box per colour channel, nothing in blue
    np.testing.assert_array_equal(x.sum(axis=(1, 2)), np.tile([16.0, 16.0, 0.0], (n, 1)))


def test_class_is_relative_order_and_test_shift_swaps_rows():
  x, y = data.generate(200)
  xt, _ = data.generate(200, shift=16)
  red_col = x[..., 0].max(axis=1).argmax(-1)
  green_col = x[..., 1].max(axis=1).argmax(-1)
  np.testing.assert_array_equal(red_col < green_col, y == 0)
  top = lambda im, c: im[..., c].max(axis=2).argmax(-1)
  shift = top(xt, 0) - top(x, 0)
  np.testing.assert_array_equal(shift, np.where(y == 0, 16, -16))


def test_clean_protocol_draws_each_split_from_a_stream_of_its_own():
  original = data.make_splits(num_train=300, num_val=120, num_test=100)
  clean = data.make_splits(num_train=300, num_val=120, num_test=100, protocol="clean")
  assert set(clean) == {"train", "val", "similar", "test"}
  np.testing.assert_array_equal(clean["train"][0], original["train"][0])  # training unchanged
  seeds = {data.stream_seed(k) for k in ("val", "similar", "test")}
  assert len(seeds) == 3 and data.SEED not in seeds
  for name, shift in (("val", 0), ("similar", 0), ("test", 16)):
    x, y = clean[name]
    np.testing.assert_array_equal(y, np.arange(len(y)) % 2)
    # the generator's own draws from that split's seed, and not the training draws
    np.testing.assert_array_equal(
      x, data.generate(len(y), shift=shift, seed=data.stream_seed(name))[0]
    )
    assert not np.array_equal(x, data.generate(len(y), shift=shift)[0])
  # the original's leak, counted: its validation images are all training images; the clean
  # sets repeat only what chance draws twice
  assert data.repeats(original["val"][0], original["train"][0]) == 120
  assert data.repeats(clean["val"][0], clean["train"][0]) < 30
  assert data.repeats(clean["similar"][0], clean["train"][0]) < 30


def test_repeats_counts_images_found_in_the_other_set():
  x, _ = data.generate(10)
  assert data.repeats(x[:4], x) == 4
  assert data.repeats(x[:4] * 0.5, x) == 0
  assert data.repeats(np.concatenate([x[:2], x[:2]]), x[:1]) == 2
