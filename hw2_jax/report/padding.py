"""Question 1.1's numbers: the padding study's means with 95% t intervals, the paddings compared
seed by seed, the protocols (and precisions) compared seed by seed, and the images of each split
that repeat a training image. The claims computed from them are in padding_claims.py, the tables
in padding_tables.py, the figure in padding_figure.py and the section's text in
padding_section.py.
"""

import itertools

import numpy as np

from hw2_jax.padding import data
from hw2_jax.report import stats

ORDER = ("valid", "replicate", "reflect", "circular", "sconv", "fconv")  # the homework's rows
SPLITS = {"val": "validation", "similar": "similar test (unshifted)", "test": "shifted test"}
PROTOCOLS = ("original", "clean")


def ordered(names) -> list:
  """Padding names in the homework's row order, any others after them."""
  return [c for c in ORDER if c in names] + sorted(c for c in names if c not in ORDER)


def _kept(entry: dict, n: int) -> np.ndarray:
  """Mask of the rounds that did not diverge (`diverged` rounds are left out everywhere)."""
  keep_N = np.ones(n, bool)
  keep_N[entry.get("diverged", [])] = False
  return keep_N


def summaries(study: dict) -> dict:
  """{net: {padding: {split: stats.summary}}} over the rounds that did not diverge."""
  n = len(study["config"]["seeds"])
  out = {}
  for net, by_conv in study["results"].items():
    out[net] = {}
    for conv in ordered(by_conv):
      entry, keep_N = by_conv[conv], _kept(by_conv[conv], n)
      out[net][conv] = {
        split: stats.summary(np.asarray(entry[split], float)[keep_N])
        for split in SPLITS
        if split in entry
      }
  return out


def pairs(study: dict, split: str = "test") -> dict:
  """{net: [{"a", "b", "mean_diff", "ci95", "p", "n"}]}: every pair of paddings of a net, a - b
  seed by seed over the seeds where neither diverged (pairs in the homework's row order)."""
  n = len(study["config"]["seeds"])
  out = {}
  for net, by_conv in study["results"].items():
    rows = []
    for a, b in itertools.combinations(ordered(by_conv), 2):
      keep_N = _kept(by_conv[a], n) & _kept(by_conv[b], n)
      if keep_N.any():
        acc_a, acc_b = (np.asarray(by_conv[c][split], float)[keep_N] for c in (a, b))
        rows.append({"a": a, "b": b, **stats.paired(acc_a, acc_b)})
    out[net] = rows
  return out


def across(study_a: dict, study_b: dict, split: str = "test") -> dict:
  """{net: {padding: paired a - b}} for the configurations both studies hold, seed by seed over
  the seeds both ran and neither diverged (the same seed: the same initialisation and data)."""
  seeds_a, seeds_b = study_a["config"]["seeds"], study_b["config"]["seeds"]
  common = [s for s in seeds_a if s in seeds_b]
  idx_a, idx_b = [seeds_a.index(s) for s in common], [seeds_b.index(s) for s in common]
  out = {}
  for net, by_conv_a in study_a["results"].items():
    by_conv_b = study_b["results"].get(net, {})
    for conv in ordered(set(by_conv_a) & set(by_conv_b)):
      ea, eb = by_conv_a[conv], by_conv_b[conv]
      keep = _kept(ea, len(seeds_a))[idx_a] & _kept(eb, len(seeds_b))[idx_b]
      if keep.any():
        acc_a = np.asarray(ea[split], float)[idx_a][keep]
        acc_b = np.asarray(eb[split], float)[idx_b][keep]
        out.setdefault(net, {})[conv] = stats.paired(acc_a, acc_b)
  return out


def repeats(cfg: dict, protocol: str) -> dict | None:
  """How many images of each split repeat a training image, computed from the study's recorded
  sizes with the study's own generator; None for a protocol make_splits does not know."""
  try:
    splits = data.make_splits(cfg["num_train"], cfg["num_val"], cfg["num_test"], protocol)
  except ValueError:
    return None
  x_train, y_train = splits["train"]
  # The shifted test moves class 0 down and class 1 up by SHIFT px; no training box is within
  # SHIFT px of that border, so rolling the image is that move.
  down_N111 = (y_train == 0)[:, None, None, None]
  moved = np.where(
    down_N111, np.roll(x_train, data.SHIFT, axis=1), np.roll(x_train, -data.SHIFT, axis=1)
  )
  out = {"train": {"n": len(x_train), "distinct": len({im.tobytes() for im in x_train})}}
  for name, (x, _) in splits.items():
    if name != "train":
      out[name] = {"n": len(x), "repeat_train": data.repeats(x, x_train)}
      if name == "test":
        out[name]["moved_train"] = data.repeats(x, moved)
  return out


def compute(studies: dict) -> dict:
  """Every number of the section as report.json holds them, but the claims (padding_claims)."""
  numbers = {"padding": {}, "paired": {}, "repeats": {}}
  for protocol in PROTOCOLS:
    study = studies.get(protocol)
    if study is not None:
      numbers["padding"][protocol] = summaries(study)
      numbers["paired"][protocol] = pairs(study)
      numbers["repeats"][protocol] = repeats(study["config"], protocol)
  if studies.get("clean") and studies.get("original"):
    numbers["clean_minus_original"] = across(studies["clean"], studies["original"])
  if studies.get("bf16") and studies.get("original"):
    numbers["bf16_minus_fp32"] = across(studies["bf16"], studies["original"])
  return numbers
