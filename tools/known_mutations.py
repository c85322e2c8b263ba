"""The behaviours an audit found untested, broken on purpose: each mutation is applied to a
copy of the repository and the named tests must fail.

    python tools/known_mutations.py        # prints one line per mutation: FAILS (caught) or PASSES

docs/mutation.md has the last result; tools/mutation.py is the general tool.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
CASES = [  # (what breaks, file, text, replacement, tests that must fail)
  (
    "padding epoch step returns the state untrained",
    "hw2_jax/padding/train.py",
    "  state = train_epoch(state, model, cfg, *train)\n",
    "",
    ["tests/test_padding_train.py"],
  ),
  (
    "rotation never augments (if augment: -> if False:)",
    "hw2_jax/rotation/train.py",
    "  if augment:",
    "  if False:",
    ["tests/test_rotation_train.py"],
  ),
  (
    "GPT optimizer without clipping",
    "hw2_jax/gpt/optimizer.py",
    "      optax.clip_by_global_norm(clip_grad_norm),\n",
    "",
    ["tests/test_gpt_optimizer.py"],
  ),
  (
    "GPT optimizer ignores --beta2",
    "hw2_jax/gpt/optimizer.py",
    "b1=b1, b2=b2,",
    "b1=b1,",
    ["tests/test_gpt_optimizer.py"],
  ),
  (
    "dropout never applied",
    "hw2_jax/gpt/model.py",
    "deterministic=not train",
    "deterministic=True",
    ["tests/test_gpt_model.py"],
  ),
  (
    "best checkpoint always the latest",
    "hw2_jax/gpt/checkpoints.py",
    "    if not loss < self.best_loss:\n      return False\n",
    "",
    ["tests/test_gpt_train.py::test_best_checkpoint_holds_the_lowest_loss_and_resume_keeps_it"],
  ),
  (
    "bf16 ignores the causal mask (explicit path)",
    "hw2_jax/gpt/model.py",
    "jnp.where(mask_TxS[None, None],",
    "jnp.where(mask_TxS[None, None] | (c.precision == 'bf16'),",
    ["tests/test_gpt_model.py"],
  ),
  (
    "bf16 ignores the causal mask (fused path)",
    "hw2_jax/gpt/model.py",
    "is_causal=cache is None,",
    "is_causal=cache is None and cfg.precision != 'bf16',",
    ["tests/test_gpt_model.py"],
  ),
]


def main() -> int:
  caught = 0
  for name, path, old, new, tests in CASES:
    with tempfile.TemporaryDirectory() as tmp:
      work = Path(tmp) / "copy"
      shutil.copytree(
        SRC, work, ignore=shutil.ignore_patterns(".venv", "runs", ".git", "results", "__pycache__")
      )
      text = (work / path).read_text()
      if old not in text:
        sys.exit(f"{path} no longer holds {old!r}: update the case {name!r}")
      (work / path).write_text(text.replace(old, new))
      start = time.time()
      r = subprocess.run(
        [
          sys.executable,
          "-m",
          "pytest",
          "-x",
          "-q",
          "-p",
          "no:cacheprovider",
          "-p",
          "no:xdist",
          *tests,
        ],
        cwd=work,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(work), PYTHONDONTWRITEBYTECODE="1"),
      )
    failed = [line[7:] for line in r.stdout.splitlines() if line.startswith("FAILED")]
    caught += r.returncode != 0
    print(
      f"{name}: {'FAILS' if r.returncode else 'PASSES (not caught)'} in "
      f"{time.time() - start:.0f} s; {failed[0] if failed else ''}",
      flush=True,
    )
  print(f"{caught} of {len(CASES)} mutations caught")
  return 0 if caught == len(CASES) else 1


if __name__ == "__main__":
  sys.exit(main())
