"""`python -m hw2_jax report`: every table and figure of the homework from the committed
results, with 95% confidence intervals and paired tests (= make report)."""

from hw2_jax.core import flags
from hw2_jax.report.config import Config


def register(subparsers) -> None:
  p = subparsers.add_parser(
    "report",
    help="rebuild the homework's tables and figures from results/, with intervals and tests",
    formatter_class=flags.HelpFormatter,
    description=(
      "Reads the committed result files under --results (it trains nothing) and writes "
      "report.md, report.json and the figures under --out: Question 1.1 (the padding study "
      "under the original and the clean protocol, 95% t intervals, paddings compared seed by "
      "seed with exact sign-flip tests, the published numbers, computed verdicts), Question "
      "1.2 (accuracy against rotation, mean over seeds with its interval) and Question 2.7 "
      "(the micro-GPT's curves, losses in nats and bits per character, samples, nanoGPT). A "
      "result not run yet is named in the report with its command."
    ),
  )
  flags.add_flags(p, Config)
  p.set_defaults(func=run)


def run(args) -> None:
  from hw2_jax.report import build

  build.build(flags.from_args(Config, args))
