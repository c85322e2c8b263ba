"""The jitted, seed-vmapped train step and the evaluation."""

import functools
import time
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hw2_jax.core import devices
from hw2_jax.rotation import train
from hw2_jax.rotation.config import Config
from hw2_jax.rotation.model import CNN
from hw2_jax.rotation.rotate import random_angles, rotate


def _data(n=40, seed=0):
  rng = np.random.default_rng(seed)
  return (
    jnp.asarray(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)),
    jnp.asarray(rng.integers(0, 10, n).astype(np.int32)),
  )


def _watch_bars(monkeypatch):
  """The epoch loop's progress bars, real ones, with their settings and every loss they show
  recorded: returns the two lists (bars, shown)."""
  bars, shown, real_tqdm = [], [], train.tqdm

  def tqdm(it, **kw):
    bars.append(kw)
    bar = real_tqdm(it, **kw)
    bar.set_postfix = lambda loss: shown.append(loss)
    return bar

  monkeypatch.setattr(train, "tqdm", tqdm)
  return bars, shown


def test_epoch_batches_cover_every_image_once_per_seed():
  idx_SxTxB, mask_TxB = train.epoch_batches(jax.random.key(0), 2, 21, 8)
  chex.assert_shape(idx_SxTxB, (2, 3, 8))
  assert float(mask_TxB.sum()) == 21 and float(mask_TxB[-1].sum()) == 5
  for s in range(2):
    assert sorted(np.asarray(idx_SxTxB[s]).ravel()[:21].tolist()) == list(range(21))
  assert not np.array_equal(idx_SxTxB[0], idx_SxTxB[1])
  other, _ = train.epoch_batches(jax.random.key(1), 2, 21, 8)
  assert not np.array_equal(idx_SxTxB, other)


def test_vmapped_step_equals_single_seed_steps():
  """Seed s of the vmapped, augmented step equals the plain step with seed s's batch and key."""
  images, labels = _data()
  seeds, bs, lr = 2, 8, 1e-3
  idx_SxTxB, mask_TxB = train.epoch_batches(jax.random.key(0), seeds, 40, bs)
  _, aug_key = train.epoch_keys(0, 0)
  one = jax.jit(
    functools.partial(
      train._train_step_one, model=CNN(), augment=True, max_angle=360.0, learning_rate=lr
    )
  )
  states = train.init_state(CNN(), 0, seeds, lr)
  singles = [jax.tree.map(lambda a, s=s: a[s], states) for s in range(seeds)]
  for t in range(3):
    states, loss_S = train.train_step(
      states,
      images,
      labels,
      idx_SxTxB,
      mask_TxB,
      aug_key,
      jnp.int32(t),
      model=CNN(),
      augment=True,
      max_angle=360.0,
      learning_rate=lr,
    )
    chex.assert_shape(loss_S, (seeds,))
    keys_S = train.step_keys(aug_key, t, seeds)
    for s in range(seeds):
      singles[s], _ = one(singles[s], images, labels, idx_SxTxB[s, t], mask_TxB[t], keys_S[s])
  for s in range(seeds):
    chex.assert_trees_all_close(
      jax.tree.map(lambda a, s=s: a[s], states), singles[s], atol=1e-5, rtol=1e-4
    )


@pytest.mark.parametrize("seeds", [1, 2])
def test_augmented_step_trains_on_the_rotated_batch(seeds):
  """The augmented step equals a plain step on the batch made by hand: seed s's images of step
  t, each turned by its own angle in [-max_angle, max_angle] drawn from seed s's step key."""
  images, labels = _data()
  lr, bs, t, max_angle = 1e-3, 8, 1, 90.0
  idx_SxTxB, mask_TxB = train.epoch_batches(jax.random.PRNGKey(0), seeds, 40, bs)
  _, aug_key = train.epoch_keys(0, 0)
  init = jax.tree.map(np.asarray, train.init_state(CNN(), 0, seeds, lr))  # train_step donates
  step = functools.partial(
    train.train_step, model=CNN(), augment=False, max_angle=max_angle, learning_rate=lr
  )
  augmented, loss_S = train.train_step(
    jax.tree.map(jnp.asarray, init),
    images,
    labels,
    idx_SxTxB,
    mask_TxB,
    aug_key,
    jnp.int32(t),
    model=CNN(),
    augment=True,
    max_angle=max_angle,
    learning_rate=lr,
  )
  keys_S = train.step_keys(aug_key, t, seeds)
  for s in range(seeds):
    idx_B = idx_SxTxB[s, t]
    angles_B = random_angles(keys_S[s], bs, max_angle)
    assert np.all(np.abs(angles_B) <= max_angle) and np.abs(angles_B).max() > 10
    batch = rotate(images[idx_B], angles_B)
    one = lambda s=s: jax.tree.map(lambda a: jnp.asarray(a[s : s + 1]), init)
    by_hand, loss = step(
      one(),
      batch,
      labels[idx_B],
      jnp.arange(bs)[None, None],
      jnp.ones((1, bs)),
      aug_key,
      jnp.int32(0),
    )
    chex.assert_trees_all_close(
      jax.tree.map(lambda a, s=s: a[s], augmented),
      jax.tree.map(lambda a: a[0], by_hand),
      atol=1e-6,
      rtol=1e-5,
    )
    np.testing.assert_allclose(loss_S[s], loss[0], rtol=1e-5)
    unrotated, _ = step(
      one(),
      images[idx_B],
      labels[idx_B],
      jnp.arange(bs)[None, None],
      jnp.ones((1, bs)),
      aug_key,
      jnp.int32(0),
    )
    gap = max(
      float(np.abs(np.asarray(x[s]) - np.asarray(y[0])).max())
      for x, y in zip(jax.tree.leaves(augmented.params), jax.tree.leaves(unrotated.params))
    )
    assert gap > 1e-4, gap  # the rotation changed the update, far beyond the tolerance above


def test_training_reduces_loss_on_a_fixed_batch():
  images, labels = _data()  # same shapes and flags as above: the jitted step is reused;
  # the same key and t each step, so the same angles: a fixed (rotated) batch to fit
  states = train.init_state(CNN(), 0, 2, 1e-3)
  idx_SxTxB = jnp.broadcast_to(jnp.arange(8), (2, 5, 8))
  mask_TxB = jnp.ones((5, 8))
  losses = []
  for _ in range(15):
    states, loss_S = train.train_step(
      states,
      images,
      labels,
      idx_SxTxB,
      mask_TxB,
      jax.random.key(0),
      jnp.int32(0),
      model=CNN(),
      augment=True,
      max_angle=360.0,
      learning_rate=1e-3,
    )
    losses.append(np.asarray(loss_S))
  assert np.all(losses[-1] < 0.7 * losses[0]), losses


def test_masked_padding_does_not_change_the_loss():
  images, labels = _data(8)
  params = train.init_state(CNN(), 0, 1, 1e-3).params
  one = jax.tree.map(lambda a: a[0], params)
  x = train.to_float(images)
  full = train._loss(CNN(), one, x[:5], labels[:5], jnp.ones(5))
  padded = train._loss(CNN(), one, x, labels, jnp.array([1, 1, 1, 1, 1, 0, 0, 0], jnp.float32))
  chex.assert_trees_all_close(full, padded, rtol=1e-6)
  # the mean cross-entropy of the real images, also for a last batch of one image
  ce = -jnp.take_along_axis(
    jax.nn.log_softmax(CNN().apply({"params": one}, x)), labels[:, None], -1
  )[:, 0]
  chex.assert_trees_all_close(full, ce[:5].mean(), rtol=1e-5)
  single = train._loss(CNN(), one, x, labels, jnp.array([1, 0, 0, 0, 0, 0, 0, 0], jnp.float32))
  chex.assert_trees_all_close(single, ce[0], rtol=1e-5)


def test_images_are_scaled_to_the_unit_range():
  """As torchvision's ToTensor: uint8 / 255."""
  x = jnp.array([0, 1, 128, 255], jnp.uint8)
  chex.assert_trees_all_close(train.to_float(x), np.array([0, 1, 128, 255]) / 255.0, rtol=1e-7)
  chex.assert_type(train.to_float(x), jnp.float32)


def test_the_keys_of_the_committed_results():
  """The batch orders and angles of the committed results come from these keys (the run's
  named "shuffle" and "augment" streams, folded with the epoch and step): a change to how they
  are derived changes every rerun (the values are those of jax 0.10.2's threefry)."""
  data = lambda k: np.asarray(jax.random.key_data(k)).tolist()
  shuffle, aug = train.epoch_keys(0, 0)
  assert (data(shuffle), data(aug)) == ([3446940613, 1846128079], [2405535642, 3689800880])
  assert [data(k) for k in train.epoch_keys(3, 2)] == [
    [2514662449, 1391369828],
    [3795574394, 2992290669],
  ]
  assert data(train.step_keys(aug, 5, 2)) == [[248292005, 1449945599], [2154936062, 4216022471]]


def test_epoch_keys_are_distinct():
  """The shuffle and augmentation keys of an epoch differ from each other and across epochs
  and seeds (one stream reused for both would tie the angles to the batch order)."""
  keys = [
    np.asarray(jax.random.key_data(k)).tobytes()
    for seed in (0, 1)
    for epoch in (0, 1, 2)
    for k in train.epoch_keys(seed, epoch)
  ]
  assert len(set(keys)) == len(keys)


def test_evaluate_matches_direct_accuracy_and_rotation_invariance_at_360():
  images, labels = _data(30)
  params = train.init_state(CNN(), 0, 2, 1e-3).params
  apply = jax.jit(CNN().apply)
  acc_AxS = train.evaluate(
    CNN(), params, np.asarray(images), np.asarray(labels), [0, 360, 90], batch_size=7
  )
  chex.assert_shape(acc_AxS, (3, 2))
  for s in range(2):
    p = jax.tree.map(lambda a, s=s: a[s], params)
    pred = np.argmax(apply({"params": p}, train.to_float(images)), -1)
    assert np.isclose(acc_AxS[0, s], 100 * np.mean(pred == np.asarray(labels)))
    pred90 = np.argmax(apply({"params": p}, train.to_float(jnp.rot90(images, 1, axes=(1, 2)))), -1)
    assert np.isclose(acc_AxS[2, s], 100 * np.mean(pred90 == np.asarray(labels)))
  chex.assert_trees_all_equal(acc_AxS[0], acc_AxS[1])


def test_evaluate_runs_each_reduced_angle_once(monkeypatch):
  """0, 360 and -360 degrees are one rotation: the test set is classified at it once, and at
  90 once, in the angles' first-seen order, and each row holds its own angle's count (a
  stand-in count that is the angle itself tells the rows apart)."""
  images, labels = _data(6)
  seen = []

  def count_the_angle(model, params_S, images_BxHxWxC, labels_B, mask_B, angle):
    seen.append(angle)
    return np.full((1,), angle)

  monkeypatch.setattr(train, "correct_count", count_the_angle)
  acc_AxS = train.evaluate(
    CNN(), None, np.asarray(images), np.asarray(labels), [0, 90, 360, -360, 450], batch_size=3
  )
  assert seen == [0.0, 0.0, 90.0, 90.0]  # two batches of 3 per angle
  np.testing.assert_array_equal(acc_AxS[:, 0], np.array([0, 90, 0, 0, 90]) * 2 / 6 * 100)


def test_evaluate_counts_only_the_real_images():
  """A model that always answers class 0, on 10 images in batches of 4 (2 padding images of
  label 0): the accuracy is the share of real images of class 0, never more."""
  images, _ = _data(10)
  params = train.init_state(CNN(), 0, 1, 1e-3).params
  head = params["TorchDense_1"]["Dense_0"]
  params = dict(params, TorchDense_1={"Dense_0": dict(head, bias=head["bias"].at[:, 0].set(1e3))})
  for labels, want in (
    ([0] * 10, 100.0),
    ([0, 1, 2, 0, 3, 0, 4, 5, 6, 0], 40.0),
    ([0] + [1] * 9, 10.0),
  ):  # a padding image counted would make it 20
    acc = train.evaluate(
      CNN(), params, np.asarray(images), np.asarray(labels, np.int32), [0, 90], batch_size=4
    )
    np.testing.assert_allclose(acc, np.full((2, 1), want), rtol=1e-6)


def test_precision_reaches_training_and_evaluation():
  """--precision bf16 computes the training step's and the evaluation's GEMMs on
  bfloat16-rounded operands: the step's loss is the bf16 model's, not the float32 one's, and
  both programs hold bfloat16 conversions that the float32 ones lack."""
  images, labels = _data(8)
  x = train.to_float(images)
  state = train.init_state(CNN(), 0, 1, 1e-3)
  params = jax.tree.map(lambda a: a[0], state.params)
  loss = lambda precision: float(
    optax.softmax_cross_entropy_with_integer_labels(
      CNN(precision=precision).apply({"params": params}, x), labels
    ).mean()
  )
  assert abs(loss("bf16") - loss("fp32")) > 1e-6
  idx, mask = jnp.arange(8)[None, None], jnp.ones((1, 8))
  for precision in ("fp32", "bf16"):
    _, loss_S = train.train_step(
      jax.tree.map(jnp.copy, state),
      images,
      labels,
      idx,
      mask,
      jax.random.key(0),
      jnp.int32(0),
      model=CNN(precision=precision),
      augment=False,
      max_angle=0.0,
      learning_rate=1e-3,
    )
    np.testing.assert_allclose(loss_S[0], loss(precision), rtol=1e-6)
    program = str(
      jax.make_jaxpr(functools.partial(train.correct_count, CNN(precision=precision)))(
        state.params, images, labels, mask[0], 0.0
      )
    )
    assert ("bf16" in program) == (precision == "bf16"), precision


def test_evaluate_scores_each_image_with_its_own_label():
  """Labelled with the model's own answers, every image is right (100% at 0 degrees), also in
  a last batch filled up with padding: images and labels stay aligned."""
  images = np.zeros((10, 32, 32, 3), np.uint8)  # image i: one channel at its own brightness
  for i in range(10):
    images[i, :, :, i % 3] = 25 * i + 20
  leaves, tree = jax.tree.flatten(train.init_state(CNN(), 0, 1, 1e-3).params)
  keys = jax.random.split(jax.random.key(3), len(leaves))  # larger random weights
  params = jax.tree.unflatten(
    tree, [a * 5 + 0.2 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)]
  )
  one = jax.tree.map(lambda a: a[0], params)
  labels = np.asarray(jnp.argmax(CNN().apply({"params": one}, train.to_float(images)), -1))
  assert len(set(labels.tolist())) > 1  # the answers depend on the image
  acc = train.evaluate(
    CNN(), params, np.asarray(images), labels.astype(np.int32), [0], batch_size=4
  )
  np.testing.assert_allclose(acc, [[100.0]])


def test_each_epoch_sees_every_image_and_tells_the_stop_watcher_the_last_epochs_time(monkeypatch):
  """With a learning rate of 0 Adam leaves the weights as they are, so an epoch's loss is the
  mean cross-entropy of all 40 images (their count differs from the images' sides); before
  each epoch the Ctrl-C watcher is told how long the last one took (nothing before the first),
  which its answer names. The progress bar names the model and epoch, counts batches, shows the
  mean loss of the last (up to 50) steps, goes when the epoch ends and, on the main process, is
  left to tqdm's own check for a terminal (so a log file gets none)."""
  images, labels = _data()
  cfg = Config(epochs=2, batch_size=8, learning_rate=0.0, seeds=2)
  state = train.init_state(CNN(), 0, 2, cfg.learning_rate)
  x, everything = train.to_float(images), jnp.ones(40)
  expected = [float(train._loss(CNN(), jax.tree.map(lambda a, s=s: a[s], state.params), x,
                                labels, everything)) for s in range(2)]  # fmt: skip
  calls, (bars, shown) = [], _watch_bars(monkeypatch)
  t0 = time.perf_counter()
  epochs = list(
    train.train_epochs(
      CNN(),
      state,
      images,
      labels,
      cfg,
      augment=False,
      mesh=devices.mesh("seeds"),
      name="plain",
      stop=types.SimpleNamespace(running=calls.append),
    )  # fmt: skip
  )
  for _, _, losses_S, _ in epochs:
    np.testing.assert_allclose(losses_S, expected, rtol=1e-5)
  assert calls == [0.0, epochs[0][3]] and 0.0 < epochs[0][3] < time.perf_counter() - t0
  assert bars == [
    dict(desc=f"plain epoch {e}/2", unit="batch", leave=False, disable=None) for e in (1, 2)
  ]
  assert shown == [f"{np.mean(expected):.3f}"] * 2  # the 5 steps' mean loss, at the last step


def test_a_long_epochs_progress_bar_shows_the_mean_loss_of_the_last_50_steps_every_50_steps(
  monkeypatch,
):
  """In an epoch of 120 steps the bar's loss is refreshed after steps 50, 100 and 120, each
  time the mean over the real seeds of the last 50 steps' losses. The step is replaced by one
  whose loss is its own index (and a padding seed's loss 1000, which must not count)."""
  images, labels = _data(120)
  cfg = Config(epochs=1, batch_size=1, seeds=2)

  def step(state, *args, **kwargs):
    return state, jnp.asarray([args[5], args[5], 1000.0], jnp.float32)  # args[5]: the index

  _, shown = _watch_bars(monkeypatch)
  monkeypatch.setattr(train, "train_step", step)
  state = {"w": jnp.zeros((3, 1))}  # three seeds on the devices, the last one padding
  run = train.train_epochs(
    None, state, images, labels, cfg, augment=False, mesh=devices.mesh("seeds"), name="plain"
  )
  _, _, losses_S, _ = next(run)
  assert shown == [f"{t - 24.5:.3f}" for t in (49, 99, 119)]
  np.testing.assert_allclose(losses_S[:2], [59.5, 59.5])  # the epoch mean per real seed
