"""The micro-GPT on nanoGPT's CPU recipe (its README's run for a laptop): tiny Shakespeare,
4 layers, 4 heads, width 128, context 64, batch 12, 2,000 steps, AdamW 1e-3 with 100 warm-up
steps and cosine decay to 1e-4, beta2 0.99, no dropout, the last 10% of the text held out and
evaluated every 250 steps on 20 batches.

    python -m experiments.gpt_shakespeare --txt-file tiny_shakespeare.txt [--out DIR] [flags]

writes the run into DIR (default runs/gpt-shakespeare): metrics.jsonl with the validation
curve, summary.json, plots/ and checkpoints. `python -m benchmarks.gpt_recipe` times this
recipe from the command line (start-up and compiling included) beside nanoGPT's own numbers.
The committed results/gpt/shakespeare/ holds metrics.jsonl, summary.json and plots/ of
`--txt-file ../shared/data/books/tiny_shakespear.txt` on the 2-core CPU; its numbers, and
nanoGPT's, are in docs/gpt-vs-nanogpt.md.
"""

from experiments import run

ARGS = [
  "gpt-train",
  "--n-layer",
  "4",
  "--n-head",
  "4",
  "--n-embd",
  "128",
  "--block-size",
  "64",
  "--train-batch-size",
  "12",
  "--max-steps",
  "2000",
  "--learning-rate",
  "1e-3",
  "--lr-schedule",
  "cosine",
  "--warmup-steps",
  "100",
  "--min-learning-rate",
  "1e-4",
  "--beta2",
  "0.99",
  "--dropout",
  "0",
  "--val-fraction",
  "0.1",
  "--eval-every",
  "250",
  "--eval-iters",
  "20",
  "--generate-every",
  "0",
  "--out",
  "runs/gpt-shakespeare",
]

if __name__ == "__main__":
  run(__spec__.name, ARGS)
