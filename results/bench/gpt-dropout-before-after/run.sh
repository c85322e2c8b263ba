#!/bin/bash
# before = commit 6e0786f checked out in a worktree at /tmp/gb/before; after = the commit that added these files (16-bit dropout draws, heads-first attention GEMMs)
PY=/work/main/.venv/bin/python
OUT=/work/main/runs/bench-s35b
mkdir -p $OUT
for r in 1 2; do
  for d in 0.1 0; do
    for v in before after; do
      dir=/work/main; [ $v = before ] && dir=/tmp/gb/before
      (cd $dir && $PY -m benchmarks.gpt_tokens --models gpt-micro --dropout $d --precision fp32 \
        --reference --steps-per-call 5 --warmup 1 --repeats 3 --memory-steps 10 \
        --out $OUT/$v-d$d-r$r > $OUT/$v-d$d-r$r.log 2>&1)
      echo "$v d$d r$r: $(grep '^| gpt-micro' $OUT/$v-d$d-r$r/gpt_tokens.md | cut -d'|' -f6,11,12)"
    done
  done
done
