"""The rotation study's JSON entry and table: a diverged seed is reported, not averaged."""

import numpy as np

from hw2_jax.rotation import report


def test_a_seed_whose_loss_went_non_finite_is_left_out_of_the_means():
  acc_AxS = np.array([[60.0, 10.0, 50.0], [30.0, 10.0, 20.0]])  # angles x seeds
  losses_ExS = np.array([[2.0, 2.0, 2.1], [1.5, np.nan, 1.4]])  # seed 1 diverged
  entry = report.model_entry(acc_AxS, losses_ExS, 10.0, 1.0, 7)
  assert entry["diverged_seeds"] == [1]
  np.testing.assert_allclose(entry["accuracy"], [55.0, 25.0])
  assert entry["accuracy_per_seed"][1] == [10.0, 10.0]  # kept in the JSON
  result = {"config": {"seeds": 3}, "angles": [0, 90], "models": {"plain": entry}}
  assert "plain: seed(s) [1] diverged" in report.table(result)
  finite = report.model_entry(acc_AxS, np.ones((2, 3)), 10.0, 1.0, 7)
  assert "diverged_seeds" not in finite
  np.testing.assert_allclose(finite["accuracy"], acc_AxS.mean(axis=1))
