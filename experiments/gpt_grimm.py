"""Micro-GPT (part 2) as the assignment trains it: Grimms' Fairy Tales, the whole book, a
constant learning rate; gpt-micro sizes, 500 steps, on a CPU.

    python -m experiments.gpt_grimm [--out DIR] [gpt-train flags, e.g. --txt-file BOOK]

trains `gpt-train` with ARGS below into DIR (default runs/gpt-grimm; the book is downloaded
once when no --txt-file is given), then samples from the last checkpoint with each of
DECODINGS into DIR/samples.txt; the curves are in DIR/plots. Everything else is the
assignment's default: block 128, batch 128, AdamW lr 5e-4 (betas 0.9/0.95, weight decay 0.1 on
linear weights), clipping 1.0, dropout 0.1, RoPE, seed 0, float32 on a CPU.

The committed results/gpt/grimm/ holds metrics.jsonl, summary.json, samples.txt and plots/ of
`--out runs/gpt-grimm --txt-file ../shared/data/books/book_EN_grimms_fairy_tales.txt` on the
2-core CPU; its numbers are in results/README.md.
"""

import argparse
import sys

from hw2_jax import cli
from hw2_jax.core import io, startup

ARGS = [
  "gpt-train",
  "--model-type",
  "gpt-micro",
  "--val-fraction",
  "0",
  "--max-steps",
  "500",
  "--checkpoint-every",
  "100",
  "--generate-every",
  "100",
]
PROMPT = "Yesterday I went "
DECODINGS = {  # name -> gpt-generate flags
  "greedy": ["--greedy", "--num-samples", "1"],
  "top-k 10": ["--top-k", "10", "--num-samples", "2"],
  "top-p 0.9": ["--top-p", "0.9", "--num-samples", "2"],
}


def main(argv) -> None:
  p = argparse.ArgumentParser(
    prog="python -m experiments.gpt_grimm",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument("--out", default="runs/gpt-grimm", help="run directory")
  args, train_flags = p.parse_known_args(argv)
  cli.main([*ARGS, "--out", args.out, *train_flags])
  parts = []
  for name, flags in DECODINGS.items():
    tmp = io.as_path(args.out) / f".samples_{name.replace(' ', '_')}.txt"
    cli.main(
      start=False,  # the training command above started the process
      argv=[
        "gpt-generate",
        "--checkpoint",
        args.out,
        "--which",
        "last",
        "--prompt",
        PROMPT,
        "--max-new-tokens",
        "400",
        "--seed",
        "0",
        "--out",
        str(tmp),
        *flags,
      ],
    )
    parts.append(f"=== {name} ({' '.join(flags)})\n{tmp.read_text()}")
    tmp.unlink()
  io.write_text(io.as_path(args.out) / "samples.txt", "\n".join(parts))
  print(f"wrote {args.out}/samples.txt")


if __name__ == "__main__":
  startup.reexec(__spec__.name)
  main(sys.argv[1:])
