"""Question 1.1's tables, as markdown: the homework's per-round tables with intervals, the images
each protocol repeats, the protocols side by side, ours beside the published numbers, the
paddings compared seed by seed and bfloat16 against float32."""

from hw2_jax.core.render import markdown_table
from hw2_jax.padding import data
from hw2_jax.report import stats
from hw2_jax.report.padding import PROTOCOLS, SPLITS, ordered


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
