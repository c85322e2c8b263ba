"""Padding study (part 1.1): Net1 and Net2 x six paddings, the original protocol.

Run (the full protocol, 10 rounds; creates .venv on a fresh clone):
    make padding-study
or, what the committed results/padding-study/ holds (3 rounds, everything else default):
    make padding-study ARGS="--rounds 3"
    python experiments/padding_study.py --rounds 3

Produces results/padding-study/padding_study.{json,md,csv,png}; the JSON's `config` records
every setting. The committed run (3 rounds, 2-core CPU, 96 min per net) gives mean shifted-test
accuracy (%): Net1 valid 0.0, replicate 89.1, reflect 0.0, circular 75.9, sconv 6.5, fconv 89.4;
Net2 0.0 for every padding; validation accuracy 88-100% everywhere (tables in README.md).
"""

import sys

from hw2_jax import cli

ARGS = ["padding-study"]  # the defaults are the original protocol

if __name__ == "__main__":
  cli.main(ARGS + sys.argv[1:])
