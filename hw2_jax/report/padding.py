"""Question 1.1 of the report: the padding study with 95% t intervals, the paddings compared
seed by seed, the original and the clean protocol side by side with the published numbers, and
the claims each protocol supports.

Verdicts (computed from the numbers, never typed; ALPHA = 0.05, CHANCE = 50%, the accuracy of
guessing between two balanced classes):

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

import itertools

import numpy as np

from hw2_jax.core.render import figure, markdown_table
from hw2_jax.padding import data
from hw2_jax.report import stats

ORDER = ("valid", "replicate", "reflect", "circular", "sconv", "fconv")  # the homework's rows
SPLITS = {"val": "validation", "similar": "similar test (unshifted)", "test": "shifted test"}
PROTOCOLS = ("original", "clean")
CHANCE, ALPHA = 50.0, 0.05
CHAIN = ("valid", "sconv", "fconv")
FIGURE = "padding_means.png"
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


def compute(studies: dict, anchors: dict) -> dict:
  """Every number of the section, as report.json holds them."""
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
  numbers["claims"] = claims(numbers, anchors["homework"])
  return numbers


# ---- markdown ----


def _cell(s: dict | None) -> str:
  return "" if s is None else stats.fmt(s)


def round_table(study: dict, net: str, summ_net: dict, homework_net: dict | None) -> str:
  """The homework's layout: per padding and split every round, mean, std, plus the 95% t
  interval and (given `homework_net`) the homework's mean."""
  n = len(study["config"]["seeds"])
  by_conv = study["results"][net]
  header = ["padding", "split", *map(str, range(1, n + 1)), "mean", "std", "mean [95% CI]"]
  header += ["homework mean"] if homework_net is not None else []
  rows = []
  for conv in ordered(by_conv):
    entry, diverged = by_conv[conv], set(by_conv[conv].get("diverged", []))
    for split, label in SPLITS.items():
      if split not in entry:
        continue
      s = summ_net[conv][split]
      rounds = [f"{a:.1f}" + ("*" if i in diverged else "") for i, a in enumerate(entry[split])]
      hw = [] if homework_net is None else [homework_net.get(conv, {}).get(split)]
      rows.append(
        [
          conv,
          label,
          *rounds,
          "—" if s["mean"] is None else f"{s['mean']:.2f}",
          "—" if s["std"] is None else f"{s['std']:.2f}",
          stats.fmt(s),
          *("" if v is None else f"{v:.2f}" for v in hw),
        ]
      )
  return markdown_table(header, rows, "ll" + "r" * (len(header) - 2))


def leak_table(rep: dict) -> str:
  protocols = [p for p in PROTOCOLS if rep.get(p)]
  of = lambda k, p, key="repeat_train": (
    f"{rep[p][k][key]:,} of {rep[p][k]['n']:,}" if k in rep[p] else "no such split"
  )
  rows = [
    ["distinct training images", *(of("train", p, "distinct") for p in protocols)],
    ["validation images that are a training image", *(of("val", p) for p in protocols)],
    ["similar-test images that are a training image", *(of("similar", p) for p in protocols)],
    ["shifted-test images that are a training image", *(of("test", p) for p in protocols)],
    [
      f"shifted-test images that are a training image moved {data.SHIFT} px",
      *(of("test", p, "moved_train") for p in protocols),
    ],
  ]
  return markdown_table(["", *protocols], rows, "l" + "r" * len(protocols))


def protocol_table(numbers: dict, net: str) -> str:
  orig = numbers["padding"].get("original", {}).get(net, {})
  clean = numbers["padding"].get("clean", {}).get(net, {})
  diff = numbers.get("clean_minus_original", {}).get(net, {})
  header = [
    "padding",
    "original: validation",
    "original: shifted test",
    "clean: validation",
    "clean: similar",
    "clean: shifted test",
    "clean − original, shifted test",
    "p",
  ]
  rows = []
  for conv in ordered(set(orig) | set(clean)):
    o, c = orig.get(conv, {}), clean.get(conv, {})
    d = diff.get(conv)
    rows.append(
      [
        conv,
        _cell(o.get("val")),
        _cell(o.get("test")),
        _cell(c.get("val")) or "not in the study yet",
        _cell(c.get("similar")),
        _cell(c.get("test")),
        _cell(d),
        "" if d is None else stats.fmt_p(d["p"]),
      ]
    )
  return markdown_table(header, rows, "l" + "r" * (len(header) - 1))


def anchor_table(numbers: dict, anchors: dict, net: str) -> str:
  """Ours beside the published numbers: the homework's means, Kayhan & van Gemert's mean ± std
  (their similar test is our validation set under the original protocol, our similar test
  under the clean one)."""
  hw, kv = anchors["homework"], anchors["kayhan2020"]
  hw_net, kv_net = hw["nets"].get(net, {}), kv["nets"].get(net, {})
  orig = numbers["padding"].get("original", {}).get(net, {})
  clean = numbers["padding"].get("clean", {}).get(net, {})
  header = [
    "padding",
    "ours, original: validation",
    "ours, original: shifted test",
    "ours, clean: similar",
    "ours, clean: shifted test",
    f"{hw['label']}: validation / shifted test",
  ]
  if kv_net:
    header.append(f"{kv['label']}: similar / dissimilar (row)")
  rows = []
  for conv in ordered(set(orig) | set(clean) | set(hw_net) | set(kv_net)):
    o, c = orig.get(conv, {}), clean.get(conv, {})
    h = hw_net.get(conv)
    row = [
      conv,
      _cell(o.get("val")),
      _cell(o.get("test")),
      _cell(c.get("similar")),
      _cell(c.get("test")),
      "" if h is None else f"{h['val']:.2f} / {h['test']:.2f}",
    ]
    if kv_net:
      k = kv_net.get(conv)
      row.append(
        ""
        if k is None
        else f"{k['similar'][0]:.1f} ± {k['similar'][1]:.1f} / "
        f"{k['test'][0]:.1f} ± {k['test'][1]:.1f} ({k['row']})"
      )
    rows.append(row)
  return markdown_table(header, rows, "l" + "r" * (len(header) - 1))


def pairs_table(rows: list) -> str:
  body = [[r["a"], r["b"], stats.fmt(r), stats.fmt_p(r["p"]), str(r["n"])] for r in rows]
  return markdown_table(
    ["a", "b", "mean difference a − b [95% CI]", "sign-flip p", "seeds"], body, "llrrr"
  )


def across_table(diff: dict, numbers_a: dict, numbers_b: dict, names=("bf16", "fp32")) -> str:
  rows = []
  for net, by_conv in diff.items():
    for conv, d in by_conv.items():
      rows.append(
        [
          net,
          conv,
          _cell(numbers_b[net][conv]["test"]),
          _cell(numbers_a[net][conv]["test"]),
          stats.fmt(d),
          stats.fmt_p(d["p"]),
        ]
      )
  a, b = names
  header = ["net", "padding", f"{b}: shifted test", f"{a}: shifted test", f"{a} − {b}", "p"]
  return markdown_table(header, rows, "llrrrr")


def draw(path, numbers: dict, anchors: dict) -> None:
  """Per net: the unshifted split (validation under the original protocol, similar test under
  the clean one) and the shifted test, each protocol's mean with its 95% t interval, beside the
  homework's means and Kayhan & van Gemert's mean ± std."""
  hw, kv = anchors["homework"], anchors["kayhan2020"]
  nets = list(dict.fromkeys(n for p in numbers["padding"].values() for n in p))
  columns = (  # title, our split per protocol, the homework's split, Kayhan's split
    (
      "unshifted: validation (original), similar test (clean)",
      ("val", "similar"),
      "val",
      "similar",
    ),
    ("shifted test", ("test", "test"), "test", "test"),
  )
  styles = {"original": ("C0", "o", -0.24), "clean": ("C1", "s", -0.08)}
  with figure(path, len(nets), 2, figsize=(12, 3.6 * len(nets)), squeeze=False, sharey=True) as (
    fig,
    axes,
  ):
    for row, net in enumerate(nets):
      convs = ordered({c for p in numbers["padding"].values() for c in p.get(net, {})})
      for col, (title, ours, hw_split, kv_split) in enumerate(columns):
        ax = axes[row][col]
        split_of = dict(zip(PROTOCOLS, ours))
        for protocol, (color, marker, dx) in styles.items():
          summ = numbers["padding"].get(protocol, {}).get(net, {})
          label = f"ours, {protocol} protocol: mean, 95% t interval"
          for i, conv in enumerate(convs):
            s = summ.get(conv, {}).get(split_of[protocol])
            if s is None or s["mean"] is None:
              continue
            lo, hi = s["ci95"] or (s["mean"], s["mean"])
            ax.errorbar(
              i + dx,
              s["mean"],
              yerr=[[s["mean"] - lo], [hi - s["mean"]]],
              fmt=marker,
              color=color,
              capsize=3,
              label=label,
            )
            label = None
        xs = [i + 0.08 for i, c in enumerate(convs) if c in hw["nets"].get(net, {})]
        ys = [hw["nets"][net][c][hw_split] for c in convs if c in hw["nets"].get(net, {})]
        ax.scatter(xs, ys, marker="x", color="k", zorder=3, label=f"{hw['label']}: mean")
        kv_net = kv["nets"].get(net, {})
        if kv_net:
          pts = [(i + 0.24, *kv_net[c][kv_split]) for i, c in enumerate(convs) if c in kv_net]
          ax.errorbar(
            [p[0] for p in pts],
            [p[1] for p in pts],
            yerr=[p[2] for p in pts],
            fmt="D",
            color="C2",
            capsize=3,
            label=f"{kv['label']}: mean ± std",
          )
        ax.axhline(CHANCE, color="gray", lw=0.8, ls=":")
        ax.set_xticks(range(len(convs)), convs)
        ax.set_ylim(-3, 103)
        ax.set_title(f"{net}: {title}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
      axes[row][0].set_ylabel("accuracy (%)")
    handles, labels = axes[0][1].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: not labels[i].startswith("ours"))
    axes[0][1].legend(
      [handles[i] for i in order], [labels[i] for i in order], loc="center right", fontsize=8
    )
    fig.subplots_adjust(hspace=0.3)
    fig.suptitle("Padding study: ours under both protocols, and the published numbers")


def markdown(studies: dict, numbers: dict, anchors: dict, sources: dict) -> str:
  """The section's text; `sources`: protocol -> load.source dict (present or awaited)."""
  hw = anchors["homework"]
  out = ["## Question 1.1: padding and translation\n"]
  for protocol in ("original", "clean", "bf16"):
    src = sources[protocol]
    state = "" if studies.get(protocol) else " — **not run yet**"
    out.append(
      f"- {protocol}: `{src['path']}/`{state}; command: `{src['command']}`; "
      f"machine: {src['machine']}."
    )
  orig = studies["original"]
  cfg = orig["config"]
  out.append(
    f"\n{len(cfg['seeds'])} rounds (seeds {cfg['seeds'][0]}..{cfg['seeds'][-1]}) per "
    f"configuration, up to {cfg['epochs']} epochs, patience {cfg['patience']}, batch "
    f"{cfg['batch_size']}, {cfg['num_train']:,} training / {cfg['num_val']:,} validation / "
    f"{cfg['num_test']:,} test images. Every padding trains on the same images with the same "
    "seeds. Rounds marked * diverged (non-finite validation loss) and are left out of every "
    "statistic. std is the sample standard deviation (n − 1), the one the t interval uses "
    "(the study's own padding_study.md shows the population std).\n"
  )

  out.append("### The two protocols\n")
  out.append(
    "The original protocol reseeds its generator on every call, so its validation set is the "
    "first training images and its shifted test set holds those same boxes, moved. The clean "
    "protocol draws validation, an unshifted 'similar' test set and the shifted test set each "
    "from a stream of its own. Counted with the study's own generator "
    "(`hw2_jax.padding.data.make_splits` at the recorded sizes, `data.repeats`):\n"
  )
  out.append(leak_table(numbers["repeats"]))
  if numbers["repeats"].get("clean"):
    out.append(
      "\nUnder the clean protocol the few repeats are chance coincidences between independent "
      "draws from a small image space (two 4 px boxes on a 32 px grid), not a copy of the "
      "training set.\n"
    )

  for i, net in enumerate(orig["results"], start=1):
    summ = numbers["padding"]["original"][net]
    out.append(f"### Table {i}: {net}, original protocol, accuracy (%) per round\n")
    out.append(round_table(orig, net, summ, hw["nets"].get(net, {})))
  clean = studies.get("clean")
  if clean is None:
    out.append(
      "### Tables 1 and 2 under the clean protocol\n\n"
      f"The clean-protocol study is not run yet: `{sources['clean']['command']}`.\n"
    )
  else:
    missing = ", ".join(
      f"{net} {conv}"
      for net, by_conv in orig["results"].items()
      for conv in ordered(by_conv)
      if conv not in clean["results"].get(net, {})
    )
    if missing:
      out.append(f"The clean study does not hold these configurations yet: {missing}.\n")
    for i, net in enumerate(clean["results"], start=1):
      out.append(f"### Table {i} (clean protocol): {net}, accuracy (%) per round\n")
      out.append(round_table(clean, net, numbers["padding"]["clean"][net], None))

  out.append("### The protocols side by side\n")
  if clean is None:
    out.append("Waits for the clean-protocol study (above).\n")
  else:
    out.append(
      "Mean [95% t interval]; the last two columns compare the protocols seed by seed on the "
      "shifted test (same seeds, same training images and initialisations; only the "
      "validation set, and so early stopping, differs).\n"
    )
    for net in orig["results"]:
      out.append(f"**{net}**\n\n" + protocol_table(numbers, net))

  out.append("### Beside the published numbers\n")
  out.append(
    "\n".join(
      f"- **{a['label']}**: {a['source']} {a['mapping']}" for a in (hw, anchors["kayhan2020"])
    )
    + "\n"
  )
  for net in orig["results"]:
    out.append(f"**{net}**\n\n" + anchor_table(numbers, anchors, net))
  out.append(f"![padding study means]({FIGURE})\n")

  out.append("### Paddings compared seed by seed (Net1, shifted test)\n")
  n = len(cfg["seeds"])
  out.append(
    "a − b per seed: mean difference, its 95% t interval, and the exact two-sided sign-flip "
    f"p over all 2^n sign assignments (with n = {n} the smallest possible p is "
    f"{2 / 2**n:.4f}). The p-values are per pair, not corrected for the number of pairs. "
    "Every net's pairs are in report.json.\n"
  )
  for protocol in PROTOCOLS:
    rows = numbers["paired"].get(protocol, {}).get("Net1")
    if rows:
      out.append(f"**{protocol} protocol**\n\n" + pairs_table(rows))

  out.append("### Claims\n")
  rows = [[c["claim"], c["original"], c["clean"]] for c in numbers["claims"]]
  out.append(markdown_table(["claim", "original", "clean"], rows))
  out.append(
    "\nRules (the verdicts are computed from the numbers above):\n\n"
    f"- ordering: {ORDER_RULE}.\n- which paddings generalise: {GENERALISE_RULE}.\n"
  )

  if "bf16_minus_fp32" in numbers:
    out.append("### Precision: bfloat16 GEMMs against float32 (original protocol)\n")
    out.append(
      "The same study with bfloat16 GEMM operands, seed by seed against the float32 study.\n\n"
      + across_table(
        numbers["bf16_minus_fp32"], summaries(studies["bf16"]), numbers["padding"]["original"]
      )
    )
  return "\n".join(out)
