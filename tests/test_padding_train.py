"""Adadelta as PyTorch, early stopping, and vmapped seeds equal to seeds trained alone."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from hw2_jax.padding import data, model, train

TINY = dict(num_train=200, num_val=100, num_test=100)


def test_adadelta_equals_pytorch_algorithm():
  cfg = train.Recipe(weight_decay=0.1, rho=0.8, learning_rate=0.7)
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


def test_early_stopping_keeps_best_and_stops_after_patience():
  losses = np.array([[5, 4, 3, 3.5, 3.2, 3.1, 1.0],   # seed 0: best at epoch 2, stops at epoch 4
                     [5, 4, 3, 2.5, 2.2, 2.1, 2.0]])  # seed 1: always improves
  state = train.SeedsState(
      params={"w": jnp.zeros(2)}, opt_state=(), best_params={"w": jnp.zeros(2)},
      best_loss=jnp.full(2, jnp.inf), bad_epochs=jnp.zeros(2, jnp.int32),
      active=jnp.ones(2, bool), epochs=jnp.zeros(2, jnp.int32), val_acc=jnp.zeros(2),
      diverged=jnp.zeros(2, bool))
  actives = []
  for epoch in range(losses.shape[1]):
    state = state._replace(params={"w": jnp.where(state.active, epoch, state.params["w"])})
    state = train.early_stopping(state, jnp.asarray(losses[:, epoch]),
                                 jnp.asarray([10.0 * epoch, 10.0 * epoch]), patience=2)
    actives.append(np.asarray(state.active).tolist())
  assert [a[0] for a in actives] == [True, True, True, True, False, False, False]
  assert all(a[1] for a in actives)
  np.testing.assert_array_equal(state.best_params["w"], [2, 6])
  np.testing.assert_array_equal(state.best_loss, [3.0, 2.0])
  np.testing.assert_array_equal(state.epochs, [5, 7])
  np.testing.assert_array_equal(state.val_acc, [40.0, 60.0])  # last epoch trained


def test_init_state_equals_model_init_per_seed():
  net = model.make_net("Net1", "reflect")
  state = train.init_state(net, train.Recipe(), [4, 9], (32, 32, 3))
  for i, seed in enumerate([4, 9]):
    expected = net.init(jax.random.key(seed), jnp.zeros((1, 32, 32, 3)))["params"]
    chex.assert_trees_all_equal(jax.tree.map(lambda a: a[i], state.params), expected)
    chex.assert_trees_all_equal(jax.tree.map(lambda a: a[i], state.best_params), expected)


def test_vmapped_seeds_equal_seeds_trained_alone():
  cfg = train.Recipe(epochs=2, batch_size=100)
  splits = data.make_splits(**TINY)
  net = model.make_net("Net2", "circular")
  batches = lambda s: tuple(jnp.asarray(train.to_batches(a, 100)) for a in splits[s])
  run = lambda seeds: train.epoch_step(
      train.epoch_step(train.init_state(net, cfg, seeds, (32, 32, 3)), net, cfg,
                       batches("train"), batches("val"))[0],
      net, cfg, batches("train"), batches("val"))
  together, metrics = run([3, 5])
  for i, seed in enumerate([3, 5]):
    alone, metrics_alone = run([seed])
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], together.params),
                                jax.tree.map(lambda a: a[0], alone.params), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(metrics.val_loss[i], metrics_alone.val_loss[0], rtol=1e-5)


def test_train_seeds_learns_and_reports_per_seed():
  cfg = train.Recipe(epochs=3, batch_size=100)
  res = train.train_seeds(model.make_net("Net2", "valid"), cfg, data.make_splits(**TINY), [0, 1])
  chex.assert_shape([res.val_acc, res.test_acc, res.epochs], [(2,)] * 3)
  np.testing.assert_array_equal(res.epochs, [3, 3])
  assert ((res.val_acc >= 0) & (res.val_acc <= 100)).all()


def test_a_seed_whose_loss_goes_non_finite_is_flagged_and_left_out_of_the_means():
  res = train.train_seeds(model.make_net("Net1", "valid"),
                          train.Recipe(epochs=2, batch_size=100, learning_rate=1e30),
                          data.make_splits(**TINY), [0])
  assert res.diverged.tolist() == [True]
  from hw2_jax.padding import report  # pylint: disable=import-outside-toplevel
  entry = {"val": [90.0, 50.0], "test": [80.0, 50.0], "epochs": [2, 2], "diverged": [1]}
  study = {"config": {"seeds": [0, 1], "epochs": 2, "patience": 9, "batch_size": 100,
                      "independent_val": False}, "device": "cpu",
           "results": {"Net1": {"valid": entry}}}
  md = report.markdown(study)
  assert "| valid | test (shifted) | 80.0 | 50.0* | 80.00 | 0.00 |" in md
  assert "non-finite" in md
