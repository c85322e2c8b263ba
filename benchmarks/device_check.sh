#!/usr/bin/env bash
# The accelerator check, prepared to fit one call on a lent GPU machine (about 9 minutes):
#   1. the device and the versions of what runs there (the machine's own python3 and packages,
#      which are not this project's pins);
#   2. the full padding study (2 nets x 6 paddings x 10 rounds, default protocol), timed;
#   3. the padding-step benchmark: one model, 10 seeds vmapped, XLA's convolution (one model and
#      vmapped) and PyTorch on the same GPU;
#   4. the padding and GPT model tests on the GPU, at full f32 matmul precision (the tests
#      compare against references to 1e-5; XLA's default on the GPU is TF32);
#   5. the GPT training throughput.
# Each stage has its own time limit, so a slow stage cannot starve the ones after it. Logs and
# results go to $WORK (default /tmp/device-check) and are packed, with the main tables, into
# $OUT (the device tool's output folder) after every stage.
#
#   bash benchmarks/device_check.sh                 # on the device machine, in the repo root
#   STUDY_ARGS="--rounds 2 --epochs 2" BENCH_ARGS="--quick" bash benchmarks/device_check.sh
set -u
OUT=${OUT:-/tmp/device-check-out}
WORK=${WORK:-/tmp/device-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg

pack() {
  tar czf "$OUT/device_check.tar.gz" -C "$WORK" .
  for f in study/padding_study.md bench/padding_step.md; do
    [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/"
  done
}

stage() {  # stage NAME LIMIT_S COMMAND...: runs COMMAND with a time limit, logs to $WORK/NAME.log
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  echo "== $name: $* (limit ${limit} s)"
  timeout --signal=INT --kill-after=15 "$limit" "$@" >"$WORK/$name.log" 2>&1
  rc=$?
  echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$WORK/stages.log"
  tail -n "${TAIL:-12}" "$WORK/$name.log" | tr '\r' '\n' | tail -n "${TAIL:-12}"
  pack
}

stage env 30 bash -c "nvidia-smi -L; $PY - <<'EOF'
import importlib.metadata as md, platform
import jax
print('python', platform.python_version(), 'devices', jax.devices())
for name in ('jax', 'jaxlib', 'flax', 'optax', 'chex', 'orbax-checkpoint', 'numpy', 'torch'):
  try:
    print(name, md.version(name))
  except md.PackageNotFoundError:
    print(name, 'not installed')
EOF"
stage study "${STUDY_LIMIT:-260}" $PY -m hw2_jax padding-study --out "$WORK/study" ${STUDY_ARGS:-}
stage bench "${BENCH_LIMIT:-150}" $PY -m benchmarks.padding_step --reference --reference-vmapped \
  --warmup 5 --repeats 20 --out "$WORK/bench" ${BENCH_ARGS:-}
stage tests "${TESTS_LIMIT:-90}" env JAX_DEFAULT_MATMUL_PRECISION=highest \
  XLA_PYTHON_CLIENT_PREALLOCATE=false $PY -m pytest -p no:cacheprovider -n 8 ${TESTS:-tests/test_padding_conv.py \
  tests/test_padding_model.py tests/test_padding_train.py tests/test_gpt_model.py tests/test_gpt_train.py}
stage gpt "${GPT_LIMIT:-50}" $PY -m benchmarks.gpt_tokens --steps 10 --out "$WORK/bench/gpt_tokens.json" \
  ${GPT_ARGS:-}
echo "== summary"
cat "$WORK/stages.log"
[ -f "$WORK/study/padding_study.md" ] && cat "$WORK/study/padding_study.md"
[ -f "$WORK/bench/padding_step.md" ] && cat "$WORK/bench/padding_step.md"
exit 0
