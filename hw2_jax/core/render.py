"""Rendering results: markdown tables and matplotlib figures, the two shapes every study reports in.

Figures are drawn with the non-interactive Agg backend (no display needed), written atomically
(core/io.py) and closed, so a long study does not pile up open figures.
"""

import contextlib
import io as stdio
from pathlib import PurePath

from hw2_jax.core import io


def markdown_table(header, rows, align=None) -> str:
  """A GitHub markdown table; `align` is a string of 'l'/'r' per column (default all left)."""
  rule = {"l": "---", "r": "---:"}
  lines = [
    "| " + " | ".join(map(str, header)) + " |",
    "|" + "|".join(rule[a] for a in (align or "l" * len(header))) + "|",
  ]
  lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
  return "\n".join(lines) + "\n"


@contextlib.contextmanager
def figure(path, nrows: int = 1, ncols: int = 1, **subplots_kwargs):
  """Yields (fig, axes) of `plt.subplots`; on leaving, saves to `path` (format from its suffix;
  a binary buffer such as io.BytesIO gets a PNG) and closes the figure, also when drawing
  failed."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(nrows, ncols, **subplots_kwargs)
  try:
    yield fig, axes
    if hasattr(path, "write"):
      fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    else:
      fmt = PurePath(str(path)).suffix.lstrip(".") or "png"
      with io.atomic_open(path) as f:
        fig.savefig(f, format=fmt, dpi=120, bbox_inches="tight")
  finally:
    plt.close(fig)


@contextlib.contextmanager
def png(files: dict, name: str, nrows: int = 1, ncols: int = 1, **subplots_kwargs):
  """`figure` drawn into memory: on leaving, `files[name]` holds the PNG's bytes (for
  core/rundir.write_outputs, which writes a study's files as one unit)."""
  buffer = stdio.BytesIO()
  with figure(buffer, nrows, ncols, **subplots_kwargs) as (fig, axes):
    yield fig, axes
  files[name] = buffer.getvalue()
