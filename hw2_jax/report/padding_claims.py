"""Question 1.1's claims, each verdict computed from the numbers (padding.py), never typed.

ALPHA = 0.05, CHANCE = 50% (the accuracy of guessing between two balanced classes):

- ORDER: Net1's shifted-test means are ordered valid < sconv < fconv. "holds" when the means are
  so ordered and both adjacent paired sign-flip tests (valid vs sconv, sconv vs fconv) give
  p < ALPHA; "not shown" when the means are ordered but a p is not; "does not hold" when the
  means are not ordered.
- GENERALISE (per net): a padding generalises when the 95% t interval of its shifted-test mean
  lies above CHANCE, fails when it lies below, and is undecided when it contains CHANCE. The
  claim (the paddings whose mean in the homework's report is above CHANCE) "holds" when exactly
  the claimed paddings generalise and every other one fails; "does not hold" when a padding is
  on the other side of CHANCE than claimed; "not shown" when the only differences are undecided
  paddings.
"""

from hw2_jax.report import stats
from hw2_jax.report.padding import PROTOCOLS, ordered

CHANCE, ALPHA = 50.0, 0.05
CHAIN = ("valid", "sconv", "fconv")
ORDER_RULE = (
  f"holds when Net1's shifted-test means are ordered {' < '.join(CHAIN)} and both adjacent "
  f"paired sign-flip tests give p < {ALPHA}; not shown when the means are ordered but a p is "
  "not; does not hold when the means are not ordered"
)
GENERALISE_RULE = (
  f"a padding generalises when the 95% t interval of its shifted-test mean lies above "
  f"{CHANCE:.0f}% (chance for two balanced classes), fails when it lies below and is undecided "
  "when it contains it; the claim (the paddings whose mean in the homework's report is above "
  f"{CHANCE:.0f}%) holds when exactly those generalise and the others fail, does not hold when "
  "a padding lies on the other side than claimed, and is not shown when the only differences "
  "are undecided paddings"
)


def _p_of(rows: list, a: str, b: str) -> float:
  return next(r["p"] for r in rows if {r["a"], r["b"]} == {a, b})


def order_verdict(summ: dict, pair_rows: dict, net: str = "Net1") -> str:
  """The ORDER claim's verdict (module docstring)."""
  by_conv = summ.get(net, {})
  missing = [c for c in CHAIN if c not in by_conv or by_conv[c]["test"]["mean"] is None]
  if missing:
    return f"not run ({net} {', '.join(missing)} missing)"
  means = [by_conv[c]["test"]["mean"] for c in CHAIN]
  ps = [_p_of(pair_rows[net], a, b) for a, b in zip(CHAIN, CHAIN[1:])]
  shown = ", ".join(f"{c} {m:.2f}" for c, m in zip(CHAIN, means))
  p_text = ", ".join(stats.fmt_p(p) for p in ps)
  if not all(x < y for x, y in zip(means, means[1:])):
    return f"does not hold: {shown}"
  if all(p < ALPHA for p in ps):
    return f"holds: {shown}; adjacent p = {p_text}"
  return f"not shown: {shown}, but adjacent p = {p_text}"


def classify(s: dict) -> str:
  """ "generalises", "fails" or "undecided": where the 95% interval lies against CHANCE."""
  lo, hi = s["ci95"] or (s["mean"], s["mean"])
  return "generalises" if lo > CHANCE else "fails" if hi < CHANCE else "undecided"


def claimed(homework_net: dict) -> list:
  """The paddings whose shifted-test mean in the homework's report is above CHANCE."""
  return ordered([c for c, v in homework_net.items() if v["test"] > CHANCE])


def generalise_claim(net: str, homework_net: dict) -> str:
  names = claimed(homework_net)
  if not names:
    return f"{net}: no padding generalises"
  return f"{net}: {', '.join(names)} generalise; the other paddings do not"


def generalise_verdict(summ: dict, net: str, homework_net: dict) -> str:
  """The GENERALISE claim's verdict for `net` (module docstring)."""
  by_conv = {c: v for c, v in summ.get(net, {}).items() if v["test"]["mean"] is not None}
  if not by_conv:
    return f"not run ({net} missing)"
  present = ordered(by_conv)
  classes = {c: classify(by_conv[c]["test"]) for c in present}
  expected = set(claimed(homework_net))
  gen = [c for c in present if classes[c] == "generalises"]
  undecided = [c for c in present if classes[c] == "undecided"]
  wrong = [
    c
    for c in present
    if c in homework_net and classes[c] == ("fails" if c in expected else "generalises")
  ]
  scope = "" if set(homework_net) <= set(present) else f" (of {', '.join(present)}, run so far)"
  text = f"{', '.join(gen) or 'none'} generalise{'s' if len(gen) == 1 else ''}{scope}"
  if undecided:
    text += f"; undecided: {', '.join(undecided)}"
  if wrong:
    return "does not hold: " + text
  if undecided:
    return "not shown: " + text
  return "holds: " + text


def claims(numbers: dict, homework: dict) -> list:
  """The claim | original | clean rows, each verdict computed from `numbers`."""
  rows = [{"claim": f"Net1 orders {' < '.join(CHAIN)} on the shifted test", "rule": ORDER_RULE}]
  for protocol in PROTOCOLS:
    summ = numbers["padding"].get(protocol)
    rows[0][protocol] = (
      "not run" if summ is None else order_verdict(summ, numbers["paired"][protocol])
    )
  for net, homework_net in homework["nets"].items():
    row = {"claim": generalise_claim(net, homework_net), "rule": GENERALISE_RULE}
    for protocol in PROTOCOLS:
      summ = numbers["padding"].get(protocol)
      row[protocol] = "not run" if summ is None else generalise_verdict(summ, net, homework_net)
    rows.append(row)
  return rows
