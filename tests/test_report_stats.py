"""The report's statistics against hand-computed cases and a brute-force enumeration."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from hw2_jax.report import stats

T_975_3 = 3.182446305284263  # Student t, 97.5% quantile, 3 degrees of freedom (tables)


def brute_force_p(d) -> float:
  """The sign-flip p by enumerating every sign tuple with itertools, in exact integers."""
  d = [int(v) for v in d]
  observed = abs(sum(d))
  hits = sum(
    abs(sum(s * v for s, v in zip(signs, d))) >= observed
    for signs in itertools.product((1, -1), repeat=len(d))
  )
  return hits / 2 ** len(d)


def test_interval_by_hand():
  s = stats.summary([1.0, 2.0, 3.0, 4.0])
  sd = math.sqrt(((1.5**2) * 2 + (0.5**2) * 2) / 3)  # sample std, n - 1 = 3
  half = T_975_3 * sd / 2  # / sqrt(4)
  assert s["n"] == 4 and s["mean"] == 2.5
  assert s["std"] == pytest.approx(sd)
  assert s["ci95"] == pytest.approx([2.5 - half, 2.5 + half])
  assert scipy_stats.t.ppf(0.975, 3) == pytest.approx(T_975_3)


def test_interval_with_scipy_quantile():
  x = np.array([88.2, 89.5, 87.1, 90.3, 88.8])
  half = scipy_stats.t.ppf(0.975, 4) * x.std(ddof=1) / math.sqrt(5)
  assert stats.summary(x)["ci95"] == pytest.approx([x.mean() - half, x.mean() + half])


def test_all_seeds_equal_gives_the_value_as_interval():
  for v in (0.1, 100.0, 0.0):
    s = stats.summary([v] * 7)
    assert s["mean"] == v and s["ci95"] == [v, v] and s["std"] == 0.0


def test_one_seed_has_no_interval_and_none_is_empty():
  assert stats.summary([69.71]) == {"mean": 69.71, "ci95": None, "std": None, "n": 1}
  assert stats.fmt(stats.summary([69.71])) == "69.71 (n = 1)"
  assert stats.summary([])["n"] == 0 and stats.fmt(stats.summary([])) == "—"


def test_sign_flip_hand_cases():
  assert stats.sign_flip_p([1, 2, 3]) == 0.25  # only +++ and --- reach |mean| 2
  assert stats.sign_flip_p([0, 0, 0, 0]) == 1.0
  assert stats.sign_flip_p([3, -1]) == 1.0  # every assignment has |mean| >= 1
  assert stats.sign_flip_p([1] * 10) == 2 / 1024  # the smallest p of 10 seeds
  assert stats.sign_flip_p([5.0]) == 1.0


def test_sign_flip_counts_exact_ties_despite_float_rounding():
  # Accuracies in tenths of a percent: in exact arithmetic 12 of the 16 assignments of
  # (-2, 3, 1, -8) tenths reach |sum| >= 6 tenths, but in floats two of those ties land a
  # rounding error below the observed mean.
  d = [-0.2, 0.3, 0.1, -0.8]
  assert brute_force_p([-2, 3, 1, -8]) == 0.75
  assert stats.sign_flip_p(d) == 0.75


def test_sign_flip_matches_brute_force():
  rng = np.random.default_rng(0)
  for n in (1, 2, 5, 8, 11):
    for _ in range(20):
      tenths = rng.integers(-9, 10, size=n)
      assert stats.sign_flip_p(tenths) == brute_force_p(tenths), tenths
      assert stats.sign_flip_p(tenths / 10) == brute_force_p(tenths), tenths / 10


def test_sign_flip_over_several_chunks_and_its_limit():
  assert stats.sign_flip_p(np.ones(17)) == 2 / 2**17  # 131,072 assignments: two chunks
  with pytest.raises(ValueError, match="2\\^n"):
    stats.sign_flip_p(np.ones(stats.MAX_EXACT_N + 1))


def test_paired_is_a_minus_b_seed_by_seed():
  a, b = [90.0, 91.0, 92.0], [89.0, 89.0, 89.0]  # differences 1, 2, 3
  r = stats.paired(a, b)
  assert r["mean_diff"] == 2.0 and r["p"] == 0.25 and r["n"] == 3
  half = scipy_stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
  assert r["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
  assert stats.paired(b, a)["mean_diff"] == -2.0
  assert stats.fmt(r) == f"2.00 [{2 - half:.2f}, {2 + half:.2f}]"
