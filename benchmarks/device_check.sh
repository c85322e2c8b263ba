#!/usr/bin/env bash
# The accelerator checks, in stages sized for 10-minute calls on a GPU machine:
#   env    the device and the versions of what runs there (the machine's own python3 and
#          packages, not this project's pins);
#   study  the full padding study (2 nets x 6 paddings x 10 rounds, default protocol), timed;
#   tests  the padding and GPT model tests on the GPU, at full f32 matmul precision (they
#          compare against references to 1e-5; XLA's default on the GPU is TF32);
#   bench  the padding-step benchmark for Net1 fconv and valid: one model, 10 seeds vmapped,
#          XLA's convolution, and PyTorch on the same GPU;
#   gpt    the GPT training throughput (tokens/s and MFU, gpt-micro and gpt-mini);
#   gpt-mini  the assignment's gpt-train run (gpt-mini, 5 epochs of Grimms' Fairy Tales, from
#          TXT_FILE, no download there), stopped by its limit GPT_MINI_LIMIT (Ctrl-C: it
#          checkpoints) and resumed by the same stage in a later call;
#   study-cached      only when STAGES names it (after study): the study again, with the
#          programs study left in the compilation cache ($WORK/jax-cache);
#   study-noautotune  only when STAGES names it: the study with XLA's GEMM autotuning off
#          (XLA_FLAGS=--xla_gpu_autotune_level=0) and no cache, to see how much of its
#          compiling that is.
# STAGES picks and orders them; the default, "env study tests", fits one 10-minute call (limits
# 30 + 420 + 120 s), so bench and gpt need a second call or STAGES. Each stage has its own
# time limit (STUDY_LIMIT, ...), so a slow stage cannot starve the ones after it; the limits are
# sized from the H200 runs in docs/accelerators.md, where compiling dominated (a cold study
# about 370 s, each GPT model about 80 s to compile). Logs and results go
# to $WORK (default /tmp/device-check)
# and are packed, with the main tables, into $OUT (the device tool's output folder) after every
# stage.
#
#   OUT=$OUT bash benchmarks/device_check.sh                       # on the device machine
#   STAGES="env bench" BENCH_ARGS="--conv-types reflect" bash benchmarks/device_check.sh
#   STUDY_ARGS="--seeds 2 --epochs 2" bash benchmarks/device_check.sh   # a dry run on CPU
set -u
OUT=${OUT:-/tmp/device-check-out}
WORK=${WORK:-/tmp/device-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg

# The main tables, copied into $OUT after every stage and printed at the end.
TABLES="study/padding_study.md study-cached/padding_study.md bench/padding_step.md
        bench/gpt_tokens.md gpt-mini/summary.json"

pack() {
  tar czf "$OUT/device_check.tar.gz" --exclude=./jax-cache --exclude=./gpt-mini/checkpoints \
    -C "$WORK" .
  for f in $TABLES; do
    if [ -f "$WORK/$f" ]; then cp "$WORK/$f" "$OUT/${f//\//_}"; fi
  done
}

stage() {  # stage NAME LIMIT_S COMMAND...: runs COMMAND with a time limit, logs to $WORK/NAME.log
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  echo "== $name: $* (limit ${limit} s)"
  timeout --signal=INT --kill-after=15 "$limit" "$@" >"$WORK/$name.log" 2>&1
  rc=$?
  echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$WORK/stages.log"
  tr '\r' '\n' <"$WORK/$name.log" | tail -n "${TAIL:-12}"
  pack
}

run_stage() {
  case $1 in
    env) stage env 30 bash -c "nvidia-smi -L; $PY - <<'PYEOF'
import importlib.metadata as md, platform
import jax
print('python', platform.python_version(), 'devices', jax.devices())
for name in ('jax', 'jaxlib', 'flax', 'optax', 'chex', 'orbax-checkpoint', 'numpy', 'torch',
             'pytest', 'pytest-xdist'):
  try:
    print(name, md.version(name))
  except md.PackageNotFoundError:
    print(name, 'not installed')
PYEOF" ;;
    study|study-cached)  # study-cached: the same again, its programs from study's cache
      stage "$1" "${STUDY_LIMIT:-420}" env JAX_COMPILATION_CACHE_DIR="$WORK/jax-cache" \
        $PY -m hw2_jax padding-study --out "$WORK/$1" ${STUDY_ARGS:-} ;;
    study-noautotune)
      stage "$1" "${STUDY_LIMIT:-420}" env XLA_FLAGS=--xla_gpu_autotune_level=0 \
        HW2_JAX_NO_COMPILE_CACHE=1 $PY -m hw2_jax padding-study --out "$WORK/$1" \
        ${STUDY_ARGS:-} ;;
    tests) stage tests "${TESTS_LIMIT:-120}" env JAX_DEFAULT_MATMUL_PRECISION=highest \
             XLA_PYTHON_CLIENT_PREALLOCATE=false $PY -m pytest -p no:cacheprovider \
             $($PY -c 'import xdist' 2>/dev/null && printf '%s' '-n 8') \
             ${TESTS:-tests/test_padding_conv.py tests/test_padding_model.py \
             tests/test_padding_train.py tests/test_gpt_model.py tests/test_gpt_train.py} ;;
    bench) stage bench "${BENCH_LIMIT:-240}" $PY -m benchmarks.padding_step --nets Net1 \
             --conv-types fconv valid --reference --warmup 5 --repeats 20 --out "$WORK/bench" \
             ${BENCH_ARGS:-} ;;
    gpt) stage gpt "${GPT_LIMIT:-210}" $PY -m benchmarks.gpt_tokens --repeats 5 \
           --out "$WORK/bench" ${GPT_ARGS:-} ;;
    gpt-mini) stage gpt-mini "${GPT_MINI_LIMIT:-300}" env \
                JAX_COMPILATION_CACHE_DIR="$WORK/jax-cache" $PY -m hw2_jax gpt-train \
                --txt-file "${TXT_FILE:?TXT_FILE: the Grimm text}" --out "$WORK/gpt-mini" \
                $(ls "$WORK/gpt-mini/checkpoints/last" 2>/dev/null | grep -q '^[0-9]' && echo --resume) ${GPT_MINI_ARGS:-} ;;
    *) echo "unknown stage $1 (env study study-cached study-noautotune tests bench gpt gpt-mini)"
       return 2 ;;
  esac
}

for s in ${STAGES:-env study tests}; do
  run_stage "$s"
done
echo "== summary"
cat "$WORK/stages.log" 2>/dev/null
for f in $TABLES; do
  if [ -f "$WORK/$f" ]; then cat "$WORK/$f"; fi
done
exit 0
