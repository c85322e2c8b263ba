"""Recipe: the micro-GPT (gpt-micro) on Grimms' Fairy Tales, on CPU -> results/gpt/.

Command (from the repository root; the book is not part of the repository):

  .venv/bin/python -m experiments.gpt_grimm --out /tmp/gpt_grimm_micro

runs, in order,

  python -m hw2_jax gpt-train --model-type gpt-micro \\
      --txt-file ../shared/data/books/book_EN_grimms_fairy_tales.txt \\
      --max-steps 500 --checkpoint-every 100 --generate-every 100 --out /tmp/gpt_grimm_micro
  python -m hw2_jax gpt-generate --checkpoint /tmp/gpt_grimm_micro --greedy ...   (and top-k, top-p)
  python -m hw2_jax gpt-plot --run /tmp/gpt_grimm_micro --out results/gpt

and copies the run's metrics.jsonl and summary.json next to the figures and samples in
results/gpt/ (the checkpoints stay in --out). With --skip-train it only collects an
existing run. Everything else is the assignment's default: block 128, batch 128,
AdamW lr 5e-4 (betas 0.9/0.95, weight decay 0.1 on linear weights), clipping 1.0,
dropout 0.1, RoPE, seed 0, float32 with explicit attention on CPU.

Measured (2-core shared CPU sandbox, 1 x cpu, jax 0.10.2, float32, explicit attention;
other jobs kept the load average at 5-10 throughout): the committed run was trained as
300 steps (2,932 s wall, median 1,731 tokens/s, while this project's tests also ran), then
continued with `--resume --max-steps 500` (945 s wall, median 4,100 tokens/s); a resumed run
has exactly the losses of an uninterrupted one (tests/test_gpt_train.py). After 500 steps
(0.119 epochs of 4,219 steps; 8.2M training tokens): loss 1.574 at step 500, mean 1.593 and
next-character accuracy 0.519 over steps 451-500 (from 4.53 / 0.006 at step 1). Samples are
fairy-tale-like in shape and vocabulary but not yet grammatical (results/gpt/samples.txt);
greedy decoding falls into a loop ("a man a man ..."), sampling with top-k 10 or top-p 0.9 is
more varied.
"""

import argparse
import shutil
from pathlib import Path

from hw2_jax.cli import main as cli
from hw2_jax.core.io import write_text

BOOK = "../shared/data/books/book_EN_grimms_fairy_tales.txt"
RESULTS = Path("results/gpt")
PROMPT = "Yesterday I went "
DECODINGS = {  # name -> gpt-generate flags
    "greedy": ["--greedy", "--num-samples", "1"],
    "top-k 10": ["--top-k", "10", "--num-samples", "2"],
    "top-p 0.9": ["--top-p", "0.9", "--num-samples", "2"],
}

RESULTS_NOTE = ""


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--out", default="/tmp/gpt_grimm_micro", help="run directory (checkpoints)")
  p.add_argument("--txt-file", default=BOOK)
  p.add_argument("--max-steps", type=int, default=500)
  p.add_argument("--results", default=str(RESULTS))
  p.add_argument("--skip-train", action="store_true", help="only collect an existing run")
  args = p.parse_args(argv)
  results = Path(args.results)

  if not args.skip_train:
    cli(["gpt-train", "--model-type", "gpt-micro", "--txt-file", args.txt_file,
         "--max-steps", str(args.max_steps), "--checkpoint-every", "100",
         "--generate-every", "100", "--out", args.out, "--no-plots"])
  results.mkdir(parents=True, exist_ok=True)
  for name in ("metrics.jsonl", "summary.json"):
    shutil.copyfile(Path(args.out) / name, results / name)
  cli(["gpt-plot", "--run", args.out, "--out", str(results)])
  parts = []
  for name, flags in DECODINGS.items():
    tmp = results / f".samples_{name.replace(' ', '_')}.txt"
    cli(["gpt-generate", "--checkpoint", args.out, "--prompt", PROMPT, "--max-new-tokens",
         "400", "--seed", "0", "--out", str(tmp), *flags])
    parts.append(f"=== {name} ({' '.join(flags)})\n{tmp.read_text()}")
    tmp.unlink()
  write_text(results / "samples.txt", "\n".join(parts))
  print(f"wrote {results}/samples.txt")


if __name__ == "__main__":
  main()
