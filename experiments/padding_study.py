"""Padding study (part 1.1): Net1 and Net2 x six paddings, the original protocol.

Run (the full protocol, 10 rounds; creates .venv on a fresh clone):
    make padding-study
or, what the committed results/padding-study/ holds (3 rounds, everything else default):
    make padding-study ARGS="--rounds 3"
    python experiments/padding_study.py --rounds 3

Produces results/padding-study/padding_study.{json,md,csv,png}. The numbers of the committed
run are in README.md ("Padding study"); the JSON's `config` records every setting.
"""

import sys

from hw2_jax import cli

ARGS = ["padding-study"]  # the defaults are the original protocol

if __name__ == "__main__":
  cli.main(ARGS + sys.argv[1:])
