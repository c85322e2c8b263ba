#!/bin/bash
# Issue 25's rows before and after, side by side in one run on one machine.
# before = commit 302a4d0 (the code when the issue was filed, just before its first commit),
#          checked out with `git worktree add /tmp/before 302a4d0`;
# after  = the commit that added this file (/work/main).
# Each command is a process of its own, run in the order below; wall time and peak memory by
# /usr/bin/time. PyTorch comparators from the after tree (benchmarks/); nanoGPT's train.py from
# a copy of karpathy/nanoGPT at $NANO with data/shakespeare_char prepared.
# Usage: bash run.sh OUT   (about 40 minutes on the 2-core CPU)
set -euo pipefail
OUT=${1:?output folder}
PY=/work/main/.venv/bin/python
BEFORE=/tmp/before AFTER=/work/main NANO=${NANO:-/tmp/nano}
CIFAR=/tmp/cifar/cifar10-jpg SHAKES=/work/shared/data/books/tiny_shakespear.txt
mkdir -p "$OUT"
TIMES="$OUT/times.tsv"  # row, variant, repeat, wall seconds, peak RSS kB
run() {  # run ROW VARIANT REPEAT DIR CACHE COMMAND...
  local row=$1 variant=$2 rep=$3 dir=$4 cache=$5; shift 5
  local log="$OUT/logs/$row-$variant-$rep.log"; mkdir -p "$OUT/logs"
  (cd "$dir" && JAX_COMPILATION_CACHE_DIR="$cache" HW2_JAX_NO_COMPILE_CACHE= \
    /usr/bin/time -f "%e %M" -o "$log.time" "$@" > "$log" 2>&1)
  echo -e "$row\t$variant\t$rep\t$(tail -1 "$log.time" | tr ' ' '\t')" | tee -a "$TIMES"
}
study() {  # study ROW TREE REPEAT ARGS...: cold (empty cache) then from that cache
  local row=$1 tree=$2 rep=$3; shift 3
  local dir=$BEFORE; [ "$tree" = after ] && dir=$AFTER
  local cache="$OUT/cache/$row-$tree-$rep"; rm -rf "$cache"
  run "$row" "$tree-cold" "$rep" "$dir" "$cache" $PY -m hw2_jax "$@" --out "$OUT/runs/$row-$tree-cold-$rep"
  run "$row" "$tree-cached" "$rep" "$dir" "$cache" $PY -m hw2_jax "$@" --out "$OUT/runs/$row-$tree-cached-$rep"
}
STAGES=${STAGES:-padding rotation gpt recipe}  # a subset reruns only those
has() { [[ " $STAGES " == *" $1 "* ]]; }
# 1. the padding command: Net1 fconv, 10 rounds x 5 epochs
PAD="--nets Net1 --conv-types fconv --seeds 10 --epochs 5"
for rep in 1 2; do
  has padding || break
  run padding pytorch $rep $AFTER /nonexistent $PY -m benchmarks.padding_torch --net Net1 --conv-type fconv --seeds 10 --epochs 5
  study padding before $rep padding-study $PAD
  study padding after $rep padding-study $PAD
done
# 2. the rotation command: plain and augmented CNN, 1 epoch each, 13 test angles
if has rotation; then
run rotation pytorch 1 $AFTER /nonexistent $PY -m benchmarks.rotation_torch --data-dir $CIFAR --epochs 1
study rotation before 1 rotation-study --data-dir $CIFAR --epochs 1
study rotation after 1 rotation-study --data-dir $CIFAR --epochs 1
fi
# 3. the GPT step, gpt-micro B128 T128 float32, at dropout 0.1 and 0: each tree's own benchmark
#    in its own process, then the after tree's with the PyTorch comparator alternated in-process
GPT="--models gpt-micro --precision fp32 --steps-per-call 5 --warmup 1 --repeats 3 --memory-steps 10"
#    (the before tree's benchmark fails after timing, writing a `dtype` its ModelConfig no longer
#    had: given one, as a class attribute, for its row)
OLD_GPT_TOKENS="import sys; from hw2_jax.gpt.config import ModelConfig; ModelConfig.dtype = 'float32'
from benchmarks import gpt_tokens; gpt_tokens.main(sys.argv[1:])"
for d in 0.1 0; do
  has gpt || break
  run gpt-d$d before 1 $BEFORE $OUT/cache/gpt $PY -c "$OLD_GPT_TOKENS" $GPT --dropout $d --out $OUT/runs/gpt-d$d-before
  run gpt-d$d after 1 $AFTER $OUT/cache/gpt $PY -m benchmarks.gpt_tokens $GPT --dropout $d --out $OUT/runs/gpt-d$d-after
  run gpt-d$d after-with-pytorch 1 $AFTER $OUT/cache/gpt $PY -m benchmarks.gpt_tokens $GPT --dropout $d --reference --out $OUT/runs/gpt-d$d-reference
done
# 4. nanoGPT's CPU recipe, whole commands
if has recipe; then
run recipe nanogpt 1 $NANO /nonexistent $PY train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0 --out_dir=$OUT/runs/nanogpt
RECIPE=$($PY -c "from experiments.gpt_shakespeare import ARGS; print(' '.join(ARGS))")
study recipe before 1 $RECIPE --txt-file $SHAKES --no-plots --no-progress
study recipe after 1 $RECIPE --txt-file $SHAKES --no-plots --no-progress
fi
echo done
