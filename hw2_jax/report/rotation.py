"""Question 1.2 of the report: accuracy against test rotation, the mean over seeds per angle with
its 95% t interval, one figure per model (Figure 1: plain, Figure 2: augmented, as the homework;
any other model after them) and a table of every model's `mean [lo, hi]` per angle."""

import numpy as np

from hw2_jax.core.render import markdown_table, png
from hw2_jax.report import stats

ORDER = ("plain", "augmented")  # the homework's Figures 1 and 2
LABELS = {"plain": "trained on upright images", "augmented": "trained with RandomRotation(360)"}


def models(study: dict) -> list:
  names = study["models"]
  return [m for m in ORDER if m in names] + [m for m in names if m not in ORDER]


def compute(study: dict) -> dict:
  """{model: {"angles", "mean", "ci95", "std", "n"}} over the seeds that did not diverge."""
  out = {}
  for name in models(study):
    m = study["models"][name]
    acc_SxA = np.asarray(m["accuracy_per_seed"], float)
    acc_SxA = np.delete(acc_SxA, m.get("diverged_seeds", []), axis=0)
    per_angle = [stats.summary(acc_SxA[:, i]) for i in range(acc_SxA.shape[1])]
    out[name] = {
      "angles": list(study["angles"]),
      "mean": [s["mean"] for s in per_angle],
      "ci95": [s["ci95"] for s in per_angle],
      "std": [s["std"] for s in per_angle],
      "n": int(acc_SxA.shape[0]),
    }
  return out


def figure_name(name: str) -> str:
  return f"rotation_{name}.png"


def _curve(ax, m: dict, color: str, label: str, band_label=None) -> None:
  """One model's mean per angle, and its 95% band when there are several seeds."""
  angles = np.asarray(m["angles"], float)
  ax.plot(angles, m["mean"], marker="o", color=color, label=label)
  if m["n"] > 1:
    lo, hi = np.array([ci or (v, v) for ci, v in zip(m["ci95"], m["mean"])]).T
    ax.fill_between(angles, lo, hi, color=color, alpha=0.25, label=band_label)


def _axes(ax, angles, title: str) -> None:
  ax.set(xlabel="test rotation angle (degrees)", ylabel="test accuracy (%)", title=title)
  if all(float(a).is_integer() for a in angles):
    ax.set_xticks(np.asarray(angles, float))
  ax.set_ylim(0, 100)
  ax.grid(alpha=0.3)
  ax.legend()


def draw(files: dict, name: str, m: dict, number: int) -> None:
  """Figure `number`: model `name`'s accuracy per angle, into `files[figure_name(name)]`."""
  with png(files, figure_name(name), figsize=(6.4, 4)) as (_, ax):
    label = f"mean of {m['n']} seeds" if m["n"] > 1 else "one seed (no interval)"
    _curve(ax, m, "C0", label, "95% t interval")
    title = f"Figure {number}: {name}" + (f" ({LABELS[name]})" if name in LABELS else "")
    _axes(ax, m["angles"], title)


COMPARISON = "rotation_models.png"


def draw_all(files: dict, numbers: dict) -> None:
  """Every model's mean per angle on one axes, each with its 95% band, into
  `files[COMPARISON]` (drawn only when there are two models or more)."""
  if len(numbers) < 2:
    return
  with png(files, COMPARISON, figsize=(7.2, 4.4)) as (_, ax):
    for i, (name, m) in enumerate(numbers.items()):
      _curve(ax, m, f"C{i}", f"{name} (n = {m['n']})")
    _axes(ax, next(iter(numbers.values()))["angles"], "Every model: mean over seeds, 95% t band")


def markdown(study: dict, numbers: dict, source: dict, awaited: dict | None) -> str:
  """`awaited`: the multi-seed study's source when it is not there yet (None when it is)."""
  names = list(numbers)
  n = {numbers[k]["n"] for k in names}
  out = ["## Question 1.2: rotation\n"]
  out.append(
    f"- `{source['path']}/`; command: `{source['command']}`; machine: {source['machine']}.\n"
  )
  if awaited is not None:
    one = n == {1}
    out.append(
      f"The study over several seeds is not run yet: `{awaited['command']}`. Until it is, the "
      f"figures and the table show `{source['path']}/`"
      + (", one seed per model, so there is no interval (n = 1)." if one else ".")
      + "\n"
    )
  cfg = study.get("config", {})
  if "epochs" in cfg:
    out.append(
      f"CIFAR-10, {cfg['epochs']} epochs, batch {cfg.get('batch_size')}, learning rate "
      f"{cfg.get('learning_rate')}; seeds per model: "
      + ", ".join(f"{k} {numbers[k]['n']}" for k in names)
      + " (seeds whose training loss went non-finite are left out).\n"
    )
  for i, name in enumerate(names, start=1):
    out.append(f"![Figure {i}: {name}]({figure_name(name)})\n")
  if len(names) > 1:
    out.append(f"![Every model with its 95% band]({COMPARISON})\n")
  header = ["angle (°)", *(f"{k}: mean [95% CI]" for k in names)]
  rows = []
  for j, angle in enumerate(study["angles"]):
    cells = []
    for k in names:
      m = numbers[k]
      cells.append(stats.fmt({"mean": m["mean"][j], "ci95": m["ci95"][j]}))
    rows.append([f"{angle:g}", *cells])
  out.append(
    "Test accuracy (%) per angle:\n\n" + markdown_table(header, rows, "l" + "r" * len(names))
  )
  return "\n".join(out)
