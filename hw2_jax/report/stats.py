"""The report's two statistics over seeds: a Student t interval and an exact sign-flip test.

For the n values x_1..x_n of one configuration (one per seed):

  mean     m = (1/n) sum_i x_i
  std      s = sqrt(sum_i (x_i - m)^2 / (n - 1))        (the sample standard deviation)
  95% CI   m -+ t_{0.975, n-1} * s / sqrt(n)             (Student t, n - 1 degrees of freedom)

Where every x_i is the same value the interval is that value; for n = 1 it is undefined (None).

Two configurations trained on the same data with the same seeds are compared seed by seed:
d_i = a_i - b_i, the mean difference and its t interval as above, and the exact two-sided
sign-flip (permutation) p-value

  p = #{e in {-1, +1}^n : |mean(e * d)| >= |mean(d)|} / 2^n

(under "a and b do not differ", each d_i is as likely to have either sign). All 2^n sign
assignments are enumerated (1,024 for 10 seeds), so p is exact; its smallest value is 2 / 2^n
(0.002 for 10 seeds, 0.0625 for 5). p = 1 when every d_i is 0. The comparison allows 1e-12 for
float rounding: an assignment whose |mean| equals the observed one in exact arithmetic counts.
"""

import math

import numpy as np
from scipy import stats as scipy_stats

LEVEL = 0.95
TOLERANCE = 1e-12
MAX_EXACT_N = 22  # 2^22 sign assignments, enumerated in chunks in about a second
_CHUNK = 1 << 16


def summary(x) -> dict:
  """{"mean", "ci95": [lo, hi] or None, "std", "n"} of the values `x` (one per seed)."""
  x_N = np.asarray(x, dtype=float).ravel()
  n = x_N.size
  if n == 0:
    return {"mean": None, "ci95": None, "std": None, "n": 0}
  mean = float(x_N.mean())
  if n == 1:
    return {"mean": mean, "ci95": None, "std": None, "n": 1}
  if np.ptp(x_N) == 0:
    value = float(x_N[0])
    return {"mean": value, "ci95": [value, value], "std": 0.0, "n": n}
  std = float(x_N.std(ddof=1))
  half = float(scipy_stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * std / math.sqrt(n)
  return {"mean": mean, "ci95": [mean - half, mean + half], "std": std, "n": n}


def sign_flip_p(d) -> float:
  """The exact two-sided sign-flip p-value of the paired differences `d` (see the module)."""
  d_N = np.asarray(d, dtype=float).ravel()
  n = d_N.size
  if n == 0:
    raise ValueError("the sign-flip test needs at least one difference")
  if n > MAX_EXACT_N:
    raise ValueError(
      f"the exact sign-flip test enumerates 2^n assignments; n = {n} is over {MAX_EXACT_N}"
    )
  observed = abs(float(d_N.mean()))
  bits_N = np.arange(n)
  hits = 0
  for start in range(0, 1 << n, _CHUNK):
    codes_C = np.arange(start, min(start + _CHUNK, 1 << n))
    signs_CxN = 1.0 - 2.0 * ((codes_C[:, None] >> bits_N) & 1)
    hits += int(np.count_nonzero(np.abs(signs_CxN @ d_N) / n >= observed - TOLERANCE))
  return hits / (1 << n)


def paired(a, b) -> dict:
  """{"mean_diff", "ci95", "p", "n"} of a - b, seed by seed (`a` and `b` in the same order)."""
  d_N = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
  s = summary(d_N)
  return {"mean_diff": s["mean"], "ci95": s["ci95"], "p": sign_flip_p(d_N), "n": s["n"]}


def fmt(s: dict, digits: int = 2) -> str:
  """`mean [lo, hi]` of a summary (or paired) dict; `mean (n = 1)`; an em dash for no values."""
  mean = s.get("mean", s.get("mean_diff"))
  if mean is None:
    return "—"
  if s["ci95"] is None:
    return f"{mean:.{digits}f} (n = 1)"
  lo, hi = s["ci95"]
  return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def fmt_p(p: float) -> str:
  return "1" if p == 1 else f"{p:.4f}"
