"""Padding study (part 1.1): Net1 and Net2 x six paddings, the original protocol, 10 rounds.

    python -m experiments.padding_study [--out DIR]        # = make padding-study

The defaults are the protocol (docs in hw2_jax/padding/config.py). Writes
DIR/padding_study.{json,md,csv,png} (default runs/padding-study). The committed
results/padding-study/ was made with `--out results/padding-study` on the 2-core CPU; its
tables are results/padding-study/padding_study.md, the wall time is in docs/performance.md.
Result: Net1 generalises to the shifted test set with `fconv`, `replicate` and `circular`
padding (mean shifted-test accuracy 81-92%) and not with `valid`, `sconv` or `reflect` (0-7%);
Net2 memorises absolute position with every padding (0%).

    python -m experiments.padding_study --precision bf16 --out results/padding-study-bf16

is the same study with bfloat16 GEMM operands (a TPU's default precision), compared with the
float32 study in results/padding-study-bf16/comparison.md.
"""

from experiments import run

ARGS = ["padding-study"]  # the defaults are the original protocol

if __name__ == "__main__":
  run(__spec__.name, ARGS)
