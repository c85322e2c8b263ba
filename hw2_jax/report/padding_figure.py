"""Question 1.1's figure: per net, the unshifted split (validation under the original protocol,
similar test under the clean one) and the shifted test, each protocol's mean with its 95% t
interval, beside the homework's means and Kayhan & van Gemert's mean ± std."""

from hw2_jax.core.render import png
from hw2_jax.report.padding import PROTOCOLS, ordered
from hw2_jax.report.padding_claims import CHANCE

FIGURE = "padding_means.png"
COLUMNS = (  # title, our split per protocol, the homework's split, Kayhan's split
  ("unshifted: validation (original), similar test (clean)", ("val", "similar"), "val", "similar"),
  ("shifted test", ("test", "test"), "test", "test"),
)
STYLES = {"original": ("C0", "o", -0.24), "clean": ("C1", "s", -0.08)}  # color, marker, x offset


def _ours(ax, numbers: dict, net: str, convs: list, ours: tuple) -> None:
  """Each protocol's mean and 95% t interval per padding, left of the padding's tick."""
  split_of = dict(zip(PROTOCOLS, ours))
  for protocol, (color, marker, dx) in STYLES.items():
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


def _published(ax, anchors: dict, net: str, convs: list, hw_split: str, kv_split: str) -> None:
  """The homework's means and Kayhan & van Gemert's mean ± std, right of the padding's tick."""
  hw, kv = anchors["homework"], anchors["kayhan2020"]
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


def _legend(ax) -> None:
  """The legend of `ax`, our entries first."""
  handles, labels = ax.get_legend_handles_labels()
  order = sorted(range(len(labels)), key=lambda i: not labels[i].startswith("ours"))
  ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="center right", fontsize=8)


def draw(files: dict, numbers: dict, anchors: dict) -> None:
  """Draws the figure into `files[FIGURE]` (PNG bytes)."""
  nets = list(dict.fromkeys(n for p in numbers["padding"].values() for n in p))
  with png(
    files, FIGURE, len(nets), 2, figsize=(12, 3.6 * len(nets)), squeeze=False, sharey=True
  ) as (fig, axes):
    for row, net in enumerate(nets):
      convs = ordered({c for p in numbers["padding"].values() for c in p.get(net, {})})
      for col, (title, ours, hw_split, kv_split) in enumerate(COLUMNS):
        ax = axes[row][col]
        _ours(ax, numbers, net, convs, ours)
        _published(ax, anchors, net, convs, hw_split, kv_split)
        ax.axhline(CHANCE, color="gray", lw=0.8, ls=":")
        ax.set_xticks(range(len(convs)), convs)
        ax.set_ylim(-3, 103)
        ax.set_title(f"{net}: {title}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
      axes[row][0].set_ylabel("accuracy (%)")
    _legend(axes[0][1])
    fig.subplots_adjust(hspace=0.3)
    fig.suptitle("Padding study: ours under both protocols, and the published numbers")
