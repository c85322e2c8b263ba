"""Question 1.1's section of report.md: where each study comes from, its setup, the two protocols,
the per-round tables, the protocols side by side, the published numbers, the paddings compared
seed by seed, the claims and bfloat16 against float32. Each part is a list of paragraphs."""

from hw2_jax.core.render import markdown_table
from hw2_jax.report import padding_tables as tables
from hw2_jax.report.padding import PROTOCOLS, ordered, summaries
from hw2_jax.report.padding_claims import GENERALISE_RULE, ORDER_RULE
from hw2_jax.report.padding_figure import FIGURE


def _sources(studies: dict, sources: dict) -> list:
  out = []
  for protocol in ("original", "clean", "bf16"):
    src = sources[protocol]
    state = "" if studies.get(protocol) else " — **not run yet**"
    out.append(
      f"- {protocol}: `{src['path']}/`{state}; command: `{src['command']}`; "
      f"machine: {src['machine']}."
    )
  return out


def _setup(cfg: dict) -> list:
  return [
    f"\n{len(cfg['seeds'])} rounds (seeds {cfg['seeds'][0]}..{cfg['seeds'][-1]}) per "
    f"configuration, up to {cfg['epochs']} epochs, patience {cfg['patience']}, batch "
    f"{cfg['batch_size']}, {cfg['num_train']:,} training / {cfg['num_val']:,} validation / "
    f"{cfg['num_test']:,} test images. Every padding trains on the same images with the same "
    "seeds. Rounds marked * diverged (non-finite validation loss) and are left out of every "
    "statistic. std is the sample standard deviation (n − 1), the one the t interval uses "
    "(the study's own padding_study.md shows the population std).\n"
  ]


def _protocols(repeats: dict) -> list:
  out = ["### The two protocols\n"]
  out.append(
    "The original protocol reseeds its generator on every call, so its validation set is the "
    "first training images and its shifted test set holds those same boxes, moved. The clean "
    "protocol draws validation, an unshifted 'similar' test set and the shifted test set each "
    "from a stream of its own. Counted with the study's own generator "
    "(`hw2_jax.padding.data.make_splits` at the recorded sizes, `data.repeats`):\n"
  )
  out.append(tables.leak_table(repeats))
  if repeats.get("clean"):
    out.append(
      "\nUnder the clean protocol the few repeats are chance coincidences between independent "
      "draws from a small image space (two 4 px boxes on a 32 px grid), not a copy of the "
      "training set.\n"
    )
  return out


def _round_tables(studies: dict, numbers: dict, homework: dict, sources: dict) -> list:
  """Tables 1 and 2 under the original protocol (with the homework's means), then the clean."""
  out, orig, clean = [], studies["original"], studies.get("clean")
  for i, net in enumerate(orig["results"], start=1):
    summ = numbers["padding"]["original"][net]
    out.append(f"### Table {i}: {net}, original protocol, accuracy (%) per round\n")
    out.append(tables.round_table(orig, net, summ, homework["nets"].get(net, {})))
  if clean is None:
    out.append(
      "### Tables 1 and 2 under the clean protocol\n\n"
      f"The clean-protocol study is not run yet: `{sources['clean']['command']}`.\n"
    )
    return out
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
    out.append(tables.round_table(clean, net, numbers["padding"]["clean"][net], None))
  return out


def _side_by_side(studies: dict, numbers: dict) -> list:
  out = ["### The protocols side by side\n"]
  if studies.get("clean") is None:
    return out + ["Waits for the clean-protocol study (above).\n"]
  out.append(
    "Mean [95% t interval]; the last two columns compare the protocols seed by seed on the "
    "shifted test (same seeds, same training images and initialisations; only the "
    "validation set, and so early stopping, differs).\n"
  )
  for net in studies["original"]["results"]:
    out.append(f"**{net}**\n\n" + tables.protocol_table(numbers, net))
  return out


def _published(studies: dict, numbers: dict, anchors: dict) -> list:
  out = ["### Beside the published numbers\n"]
  out.append(
    "\n".join(
      f"- **{a['label']}**: {a['source']} {a['mapping']}"
      for a in (anchors["homework"], anchors["kayhan2020"])
    )
    + "\n"
  )
  for net in studies["original"]["results"]:
    out.append(f"**{net}**\n\n" + tables.anchor_table(numbers, anchors, net))
  out.append(f"![padding study means]({FIGURE})\n")
  return out


def _pairs(n: int, numbers: dict) -> list:
  out = ["### Paddings compared seed by seed (Net1, shifted test)\n"]
  out.append(
    "a − b per seed: mean difference, its 95% t interval, and the exact two-sided sign-flip "
    f"p over all 2^n sign assignments (with n = {n} the smallest possible p is "
    f"{2 / 2**n:.4f}). The p-values are per pair, not corrected for the number of pairs. "
    "Every net's pairs are in report.json.\n"
  )
  for protocol in PROTOCOLS:
    rows = numbers["paired"].get(protocol, {}).get("Net1")
    if rows:
      out.append(f"**{protocol} protocol**\n\n" + tables.pairs_table(rows))
  return out


def _claims(claims: list) -> list:
  rows = [[c["claim"], c["original"], c["clean"]] for c in claims]
  return [
    "### Claims\n",
    markdown_table(["claim", "original", "clean"], rows),
    "\nRules (the verdicts are computed from the numbers above):\n\n"
    f"- ordering: {ORDER_RULE}.\n- which paddings generalise: {GENERALISE_RULE}.\n",
  ]


def _precision(studies: dict, numbers: dict) -> list:
  if "bf16_minus_fp32" not in numbers:
    return []
  return [
    "### Precision: bfloat16 GEMMs against float32 (original protocol)\n",
    "The same study with bfloat16 GEMM operands, seed by seed against the float32 study.\n\n"
    + tables.across_table(
      numbers["bf16_minus_fp32"], summaries(studies["bf16"]), numbers["padding"]["original"]
    ),
  ]


def markdown(studies: dict, numbers: dict, anchors: dict, sources: dict) -> str:
  """The section's text; `sources`: protocol -> load.source dict (present or awaited)."""
  cfg = studies["original"]["config"]
  out = [
    "## Question 1.1: padding and translation\n",
    *_sources(studies, sources),
    *_setup(cfg),
    *_protocols(numbers["repeats"]),
    *_round_tables(studies, numbers, anchors["homework"], sources),
    *_side_by_side(studies, numbers),
    *_published(studies, numbers, anchors),
    *_pairs(len(cfg["seeds"]), numbers),
    *_claims(numbers["claims"]),
    *_precision(studies, numbers),
  ]
  return "\n".join(out)
