"""Adadelta as PyTorch, early stopping, and vmapped seeds equal to seeds trained alone."""

import time
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np

from hw2_jax.core import devices
from hw2_jax.core.compile_cache import Compiles
from hw2_jax.padding import conv, data, model, train
from hw2_jax.padding.config import Recipe

TINY = dict(num_train=200, num_val=100, num_test=100)


def test_adadelta_equals_pytorch_algorithm():
  cfg = Recipe(weight_decay=0.1, rho=0.8, learning_rate=0.7, eps=1e-3)
  rng = np.random.RandomState(0)
  p = {"a": rng.randn(3).astype(np.float32), "b": rng.randn(2, 2).astype(np.float32)}
  tx = train.optimizer(cfg)
  params, opt_state = jax.tree.map(jnp.asarray, p), tx.init(p)
  ref = {k: v.astype(np.float64) for k, v in p.items()}
  square_avg = {k: np.zeros_like(v) for k, v in ref.items()}
  acc_delta = {k: np.zeros_like(v) for k, v in ref.items()}
  for _ in range(4):
    grads = {k: rng.randn(*v.shape).astype(np.float32) for k, v in p.items()}
    updates, opt_state = tx.update(grads, opt_state, params)
    params = jax.tree.map(lambda a, u: a + u, params, updates)
    for k in ref:  # torch.optim.Adadelta, written out
      g = grads[k] + cfg.weight_decay * ref[k]
      square_avg[k] = cfg.rho * square_avg[k] + (1 - cfg.rho) * g * g
      delta = np.sqrt(acc_delta[k] + cfg.eps) / np.sqrt(square_avg[k] + cfg.eps) * g
      acc_delta[k] = cfg.rho * acc_delta[k] + (1 - cfg.rho) * delta * delta
      ref[k] = ref[k] - cfg.learning_rate * delta
  chex.assert_trees_all_close(params, ref, rtol=1e-5)


def _fresh_state(seeds):
  """Early-stopping state of `seeds` seeds before the first epoch; parameters {"w": 0}."""
  zeros = lambda dtype=jnp.float32: jnp.zeros(seeds, dtype)
  return train.SeedsState(
    params={"w": zeros()},
    opt_state=(),
    best_params={"w": zeros()},
    best_loss=jnp.full(seeds, jnp.inf),
    bad_epochs=zeros(jnp.int32),
    active=jnp.ones(seeds, bool),
    epochs=zeros(jnp.int32),
    val_acc=zeros(),
    diverged=zeros(bool),
  )


def test_early_stopping_keeps_best_and_stops_after_patience():
  losses = np.array(
    [
      [5, 4, 3, 3.5, 3.2, 3.1, 1.0],  # seed 0: best at epoch 2, stops at epoch 4
      [5, 4, 3, 2.5, 2.2, 2.1, 2.0],
    ]
  )  # seed 1: always improves
  state = _fresh_state(2)
  actives = []
  for epoch in range(losses.shape[1]):
    state = state._replace(params={"w": jnp.where(state.active, epoch, state.params["w"])})
    state = train.early_stopping(
      state, jnp.asarray(losses[:, epoch]), jnp.asarray([10.0 * epoch, 10.0 * epoch]), patience=2
    )
    actives.append(np.asarray(state.active).tolist())
  assert [a[0] for a in actives] == [True, True, True, True, False, False, False]
  assert all(a[1] for a in actives)
  np.testing.assert_array_equal(state.best_params["w"], [2, 6])
  np.testing.assert_array_equal(state.best_loss, [3.0, 2.0])
  np.testing.assert_array_equal(state.epochs, [5, 7])
  np.testing.assert_array_equal(state.val_acc, [40.0, 60.0])  # last epoch trained


def test_init_state_equals_model_init_per_seed():
  net = model.make_net("Net1", "reflect")
  state = train.init_state(net, Recipe(), [4, 9], (32, 32, 3))
  for i, seed in enumerate([4, 9]):
    expected = net.init(jax.random.key(seed), jnp.zeros((1, 32, 32, 3)))["params"]
    chex.assert_trees_all_equal(jax.tree.map(lambda a, i=i: a[i], state.params), expected)
    chex.assert_trees_all_equal(jax.tree.map(lambda a, i=i: a[i], state.best_params), expected)


def test_vmapped_seeds_equal_seeds_trained_alone():
  cfg = Recipe(epochs=2, batch_size=100)
  splits = data.make_splits(**TINY)
  net = model.make_net("Net2", "circular")
  batches = lambda s: tuple(jnp.asarray(train.to_batches(a, 100)) for a in splits[s])
  run = lambda seeds: train.epoch_step(
    train.epoch_step(
      train.init_state(net, cfg, seeds, (32, 32, 3)), net, cfg, batches("train"), batches("val")
    )[0],
    net,
    cfg,
    batches("train"),
    batches("val"),
  )
  together, metrics = run([3, 5])
  for i, seed in enumerate([3, 5]):
    alone, metrics_alone = run([seed])
    chex.assert_trees_all_close(
      jax.tree.map(lambda a, i=i: a[i], together.params),
      jax.tree.map(lambda a: a[0], alone.params),
      rtol=1e-4,
      atol=1e-6,
    )
    np.testing.assert_allclose(metrics.val_loss[i], metrics_alone.val_loss[0], rtol=1e-5)


def _numpy_metrics(net, params, x, y, batch_size):
  """The original's validation numbers, written out: (sum of batch-mean losses / images,
  accuracy %), from the logits of the model applied to the whole split."""
  logits = np.asarray(jax.jit(net.apply)({"params": params}, jnp.asarray(x)), np.float64)
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  ce = -logp[np.arange(len(y)), y]
  loss = ce.reshape(-1, batch_size).mean(-1).sum() / len(y)
  return loss, 100.0 * np.mean(logits.argmax(-1) == y)


def test_defaults_are_the_originals():
  cfg = Recipe()
  assert (cfg.epochs, cfg.patience, cfg.batch_size) == (50, 9, 200)
  assert (cfg.learning_rate, cfg.rho, cfg.eps, cfg.weight_decay) == (1.0, 0.9, 1e-6, 5e-5)


def test_to_batches_keeps_the_order():
  np.testing.assert_array_equal(train.to_batches(np.arange(12), 4), np.arange(12).reshape(3, 4))
  chex.assert_shape(train.to_batches(np.zeros((6, 2, 3)), 3), (2, 3, 2, 3))


def test_training_learns_the_boxes_and_reports_the_originals_numbers():
  """Five epochs on 200 images: every seed's parameters change, its validation loss falls
  every epoch and its accuracy passes 90%; the reported numbers are the original's formulas
  on the last parameters (validation) and the best ones (test)."""
  cfg = Recipe(epochs=5, batch_size=100)
  splits = data.make_splits(**TINY)
  net = model.make_net("Net2", "valid")
  seeds = [0, 2]  # both pass 90% by epoch 2 (seed 1 waits until epoch 5): a margin
  init = jax.tree.map(np.asarray, train.init_state(net, cfg, seeds, (32, 32, 3)).params)
  history, last = [], {}

  def on_epoch(epoch, metrics, state):
    assert all(isinstance(m, np.ndarray) for m in metrics)  # fetched to the host, as documented
    history.append(metrics)
    if epoch == cfg.epochs - 1:
      last.update(
        params=jax.tree.map(np.asarray, state.params),
        best=jax.tree.map(np.asarray, state.best_params),
        best_loss=np.asarray(state.best_loss),
      )

  asked = []  # a stop is asked of all processes together after every epoch but the last
  stop = types.SimpleNamespace(
    running=lambda seconds: None,
    requested=lambda sync=False: asked.append((sync, len(history))) or False,
  )
  res = train.train_seeds(net, cfg, splits, seeds, on_epoch=on_epoch, stop=stop)
  assert asked == [(True, epochs) for epochs in range(1, 5)]
  chex.assert_shape([res.val_acc, res.test_acc, res.epochs], [(2,)] * 3)
  np.testing.assert_array_equal(res.epochs, [5, 5])
  val_loss = np.stack([m.val_loss for m in history])  # epochs x seeds
  assert np.all(np.diff(val_loss, axis=0) < 0), val_loss
  assert np.all(res.val_acc >= 90), res.val_acc
  np.testing.assert_array_equal(res.val_acc, history[-1].val_acc)
  for leaf0, leaf in zip(jax.tree.leaves(init), jax.tree.leaves(last["params"])):
    assert np.all(np.abs(leaf - leaf0).reshape(2, -1).max(-1) > 0)
  # improved every epoch: the best parameters are the last ones
  chex.assert_trees_all_equal(last["best"], last["params"])
  np.testing.assert_array_equal(last["best_loss"], val_loss[-1])
  for s in range(2):
    p = jax.tree.map(lambda a, s=s: a[s], last["params"])
    loss, acc = _numpy_metrics(net, p, *splits["val"], cfg.batch_size)
    np.testing.assert_allclose(val_loss[-1, s], loss, rtol=1e-4)
    np.testing.assert_allclose(history[-1].val_acc[s], acc)
    _, test_acc = _numpy_metrics(
      net, jax.tree.map(lambda a, s=s: a[s], last["best"]), *splits["test"], cfg.batch_size
    )
    np.testing.assert_allclose(res.test_acc[s], test_acc)


def test_stopped_seeds_keep_their_state():
  """A seed that early stopping has stopped is not trained, counted or re-validated."""
  cfg = Recipe(epochs=5, batch_size=100)  # the test above's: the step is reused
  splits = data.make_splits(**TINY)
  net = model.make_net("Net2", "valid")
  mesh = devices.mesh("seeds")  # placed as train_seeds places them: no recompiling
  put = lambda tree, sharding: jax.tree.map(lambda a: jax.device_put(a, sharding), tree)
  batches = lambda s: put(
    tuple(train.to_batches(a, 100) for a in splits[s]), devices.replicated(mesh)
  )
  state = train.init_state(net, cfg, [0, 1], (32, 32, 3))
  state = state._replace(active=jnp.array([True, False]), val_acc=jnp.array([7.0, 7.0]))
  before = jax.tree.map(np.asarray, state)
  state = put(state, devices.leading_axis_sharding(mesh, 2))
  after, _ = train.epoch_step(state, net, cfg, batches("train"), batches("val"))
  seed = lambda tree, s: jax.tree.map(lambda a: np.asarray(a)[s], tree)
  chex.assert_trees_all_equal(seed(after.params, 1), seed(before.params, 1))
  chex.assert_trees_all_equal(seed(after.opt_state, 1), seed(before.opt_state, 1))
  for tree in ("params", "opt_state"):  # the active seed trained: both changed
    leaves = zip(
      jax.tree.leaves(seed(getattr(after, tree), 0)),
      jax.tree.leaves(seed(getattr(before, tree), 0)),
    )
    assert all(not np.array_equal(a, b) for a, b in leaves if a.size > 1), tree
  np.testing.assert_array_equal(after.epochs, [1, 0])
  np.testing.assert_array_equal(np.asarray(after.val_acc)[1], 7.0)
  np.testing.assert_array_equal(np.asarray(after.best_loss)[1], np.inf)


def test_early_stopping_on_tied_losses_keeps_the_first_best():
  """A validation loss equal to the best is no improvement (the original compares with <)."""
  losses = [4.0, 2.0, 2.0, 2.0, 2.0]
  state = _fresh_state(1)
  actives = []
  for epoch, loss in enumerate(losses):
    state = state._replace(params={"w": jnp.full(1, float(epoch))})
    state = train.early_stopping(state, jnp.array([loss]), jnp.array([1.0]), patience=3)
    actives.append(bool(state.active[0]))
  assert actives == [True, True, True, True, False]
  np.testing.assert_array_equal(state.best_params["w"], [1.0])  # the first epoch with 2.0
  np.testing.assert_array_equal(state.bad_epochs, [3])
  np.testing.assert_array_equal(state.epochs, [5])


def test_train_seeds_stops_once_every_seed_has_stopped_and_tests_the_best():
  """Validated on the shifted boxes, Net2 (which reads absolute position) gets a higher
  validation loss with every epoch while it learns the unshifted ones: patience 1 stops both
  seeds after epoch 2, no further epoch runs, and the test accuracy is that of the epoch-1
  parameters (the best), not of the last ones. Before each epoch the Ctrl-C watcher is told
  how long the last one took (nothing before the first), and a stop is asked of all processes
  together only between epochs that are not the last."""
  cfg = Recipe(epochs=10, patience=1, batch_size=100)
  base = data.make_splits(**TINY)
  splits = {"train": base["train"], "val": base["test"], "test": base["val"]}
  net = model.make_net("Net2", "valid")
  seen, waits, syncs = [], [], []
  stop = types.SimpleNamespace(
    running=waits.append, requested=lambda sync=False: syncs.append((sync, len(seen))) or False
  )
  t0 = time.perf_counter()
  res = train.train_seeds(
    net,
    cfg,
    splits,
    [0, 2],
    on_epoch=lambda epoch, m, state: seen.append(
      (epoch, np.asarray(m.val_loss), jax.tree.map(np.asarray, state.params))
    ),
    stop=stop,
  )
  assert waits[0] == 0.0 and 0.0 < waits[1] < time.perf_counter() - t0 and len(waits) == 2
  assert syncs == [(True, 1)]  # after epoch 1, not after the last
  assert [epoch for epoch, _, _ in seen] == [0, 1]
  np.testing.assert_array_equal(res.epochs, [2, 2])
  assert np.all(seen[1][1] > seen[0][1])
  for s in range(2):
    at = lambda params, s=s: jax.tree.map(lambda a: a[s], params)
    best, last = (_numpy_metrics(net, at(seen[e][2]), *splits["test"], 100)[1] for e in (0, 1))
    assert last > best + 20
    np.testing.assert_allclose(res.test_acc[s], best)


def test_a_seed_whose_loss_goes_non_finite_is_flagged_and_left_out_of_the_means():
  res = train.train_seeds(
    model.make_net("Net1", "valid"),
    Recipe(epochs=2, batch_size=100, learning_rate=1e30),
    data.make_splits(**TINY),
    [0],
  )
  assert res.diverged.tolist() == [True]
  from hw2_jax.padding import report

  entry = {"val": [90.0, 50.0], "test": [80.0, 50.0], "epochs": [2, 2], "diverged": [1]}
  study = {
    "config": {
      "seeds": [0, 1],
      "epochs": 2,
      "patience": 9,
      "batch_size": 100,
      "independent_val": False,
    },
    "device": "cpu",
    "results": {"Net1": {"valid": entry}},
  }
  md = report.markdown(study)
  assert "| valid | test (shifted) | 80.0 | 50.0* | 80.00 | 0.00 |" in md
  assert "non-finite" in md


def test_compare_puts_studies_side_by_side():
  """report.compare: per configuration each study's means (diverged rounds left out), mean
  epochs and seconds; a configuration one study lacks has empty cells."""
  from hw2_jax.padding import report

  a = {
    "results": {
      "Net1": {
        "valid": {"val": [90.0, 80.0], "test": [10.0, 20.0], "epochs": [3, 5], "seconds": 12.0},
        "fconv": {"val": [70.0], "test": [60.0], "epochs": [2]},
      }
    }
  }
  b = {
    "results": {
      "Net1": {
        "valid": {
          "val": [50.0, 100.0],
          "test": [0.0, 40.0],
          "epochs": [4, 4],
          "diverged": [0],
          "seconds": 30.0,
        }
      }
    }
  }
  table = report.compare({"fp32": a, "bf16": b})
  lines = table.splitlines()
  assert lines[0] == (
    "| net | conv type | validation % (fp32) | validation % (bf16) | "
    "shifted test % (fp32) | shifted test % (bf16) | epochs (fp32) | "
    "epochs (bf16) | seconds (fp32) | seconds (bf16) |"
  )
  assert lines[2] == "| Net1 | valid | 85.00 | 100.00 | 15.00 | 40.00 | 4.0 | 4.0 | 12 | 30 |"
  assert lines[3] == "| Net1 | fconv | 70.00 |  | 60.00 |  | 2.0 |  |  |  |"


def test_evaluate_sums_batch_means_over_several_batches():
  """The validation numbers over 4 batches of 25 are the original's formulas: the sum of the
  batch-mean losses over the number of images, and the accuracy of all images."""
  net = model.make_net("Net2", "valid")
  splits = data.make_splits(**TINY)
  params = train.init_state(net, Recipe(), [0, 1], (32, 32, 3)).params
  x, y = splits["val"]
  loss_S, acc_S = train.evaluate(params, net, train.to_batches(x, 25), train.to_batches(y, 25))
  for s in range(2):
    loss, acc = _numpy_metrics(net, jax.tree.map(lambda a, s=s: a[s], params), x, y, 25)
    np.testing.assert_allclose(loss_S[s], loss, rtol=1e-5)
    np.testing.assert_allclose(acc_S[s], acc, rtol=1e-6)


def test_paddings_of_one_width_share_one_program_with_the_same_numbers():
  """fconv, reflect, replicate and circular pad by 2: one net with the padding's mode as data
  trains all four, compiling nothing after the first, with exactly the numbers of the net made
  for the padding alone (trained here for a zero and a circular padding, and for sconv, whose
  net the study shared before a width alone got its own; every padding's loss and gradients
  equal its own net's in test_padding_model.py)."""
  cfg = Recipe(epochs=2, batch_size=100)
  splits = data.make_splits(**TINY)
  shared = model.make_net("Net1", "fconv", shared=True)
  together = {"fconv": train.train_seeds(shared, cfg, splits, [0, 1], mode=jnp.int32(0))}
  start = Compiles.start()
  for conv_type in ("reflect", "replicate", "circular"):
    assert model.make_net("Net1", conv_type, shared=True) == shared
    mode = jnp.int32(conv.mode_of(conv_type))
    together[conv_type] = train.train_seeds(shared, cfg, splits, [0, 1], mode=mode)
  assert Compiles.since(start)["programs"] == 0
  sconv = model.make_net("Net1", "sconv", shared=True)  # the study's net for sconv, before
  together["sconv"] = train.train_seeds(sconv, cfg, splits, [0, 1], mode=jnp.int32(0))
  for conv_type in ("fconv", "circular", "sconv"):
    got = together[conv_type]
    alone = train.train_seeds(model.make_net("Net1", conv_type), cfg, splits, [0, 1])
    for a, b in zip(got, alone):
      np.testing.assert_array_equal(a, b)
