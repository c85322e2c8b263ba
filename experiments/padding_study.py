"""Padding study (part 1.1): Net1 and Net2 x six paddings, the original protocol.

Run (the full protocol, 10 rounds; creates .venv on a fresh clone):
    make padding-study
    python experiments/padding_study.py          # the same

Produces results/padding-study/padding_study.{json,md,csv,png}; the JSON's `config` records
every setting. The committed run (10 rounds, idle 2-core CPU, 1 h 49 min) gives mean
shifted-test accuracy (%): Net1 valid 0.0, replicate 91.5, reflect 0.0, circular 81.1,
sconv 6.4, fconv 88.8; Net2 0.0 for every padding; validation accuracy 88-100% everywhere
(tables in README.md).
"""

import sys

from hw2_jax import cli

ARGS = ["padding-study"]  # the defaults are the original protocol

if __name__ == "__main__":
  cli.main(ARGS + sys.argv[1:])
