#!/usr/bin/env bash
# One prepared GPU session (about 9 minutes): CUDA parity with the authors' reference; the training step at the anchor
# geometry (B = 8 videos x T = 10 clips of 32x112^2 + 80x128) for ours and for a plain-PyTorch implementation of the
# same network (bench/gpu/reference_step.py: bf16 autocast + channels_last_3d + cudnn.benchmark) side by side, for
# B in {4, 8, 16} and fp32/tf32/bf16, with peak memory; the real pretraining step (MEP + CPP, CANS); a short
# pretraining run of the demo preset; and the demo on CUDA. Runs the CLI published by
# scripts/publish-external-libtorch.sh against the machine's PyTorch libtorch. Usage, from the repo root on the GPU machine:
#   bench/gpu/check.sh [OUT]      (needs publish/external-libtorch and publish/reference: see bench/gpu/README.md)
# Extra demo configurations to compare run in parallel from bench/gpu/sweep.txt when that file exists (one line of demo
# arguments each, NAME first).
set -u
OUT="${1:-${OUT:-/tmp/gpu-check}}"
mkdir -p "$OUT"
P="publish/external-libtorch/avbert"
REF="publish/reference"
DEV="${DEVICE:-cuda}"
# QUICK=1: a few steps of everything, to check the script itself on any machine (DEVICE=cpu).
if [[ "${QUICK:-0}" == 1 ]]; then S_SMALL=3; S_FULL=1; B_FULL=2; DEMO_ARGS="--steps 3 --probe-train 16 --probe-test 8 --retrieval 4"
  BENCH_OURS="--preset small --steps 2"; BENCH_REF="--tiny --steps 2 --warmup 1"; BATCHES="2"; PRECISIONS="fp32"
else S_SMALL=150; S_FULL=15; B_FULL=8; DEMO_ARGS=""
  BENCH_OURS="--preset full --steps 10"; BENCH_REF="--steps 10"; BATCHES="4 8 16"; PRECISIONS="bf16 tf32 fp32"; fi
PY="${PYTHON:-python3}"
# The sweep starts no configuration after DEADLINE seconds and cuts each one off there.
DEADLINE="${DEADLINE:-560}"
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
step() { echo; echo "== [$(elapsed) s] $*"; }
exec > >(tee "$OUT/log.txt") 2>&1

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("pytorch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
nproc
"$P" info

# GPU memory in use, sampled every 200 ms for the whole session (peak per phase is read from the timestamps).
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/gpu-memory.csv" 2>/dev/null &
SMI=$!
mark() { echo "$(date '+%Y/%m/%d %H:%M:%S') $*" >> "$OUT/phases.txt"; }
# Keep a run's logs and curves, drop its weights and checkpoints (the machine returns a limited amount).
trim_run() { rm -rf "$1/checkpoints" "$1/model" "$1/tb"; }
export -f trim_run
SWEEP="${SWEEP_FILE:-bench/gpu/sweep.txt}"

if [[ "${SKIP_CHECKS:-0}" != 1 ]]; then
step "parity: tiny-a on CUDA, strict fp32 (tolerance max|ours-ref| <= 2e-4 max|ref|)"
"$P" convert --from-reference "$REF/tiny-a.pyth" --reference-config "$REF/tiny-a.config.yaml" --out "$OUT/tiny-a" > /dev/null
"$P" forward --model "$OUT/tiny-a" --inputs "$REF/tiny-a.io.safetensors" --out "$OUT/tiny-a.cuda.safetensors" --device "$DEV"
echo "forward exit $?"

# The anchor: ours and the plain-PyTorch reference, one line each, same geometry, same step (forward, mean-square loss of
# the Transformers' outputs, backward, clip 1.0, AdamW AMSGrad). bf16 at every batch size; tf32 and fp32 at B = 8.
step "training step at the anchor geometry: ours (avbert bench step) vs plain PyTorch (reference_step.py)"
mark bench
for prec in $PRECISIONS; do
  for b in $BATCHES; do
    [[ "$prec" != bf16 && "$b" != 8 && "${QUICK:-0}" != 1 ]] && continue
    timeout 150 "$P" bench step --device "$DEV" --precision "$prec" --batch "$b" --step model $BENCH_OURS | grep -v "^bench step"
    CL=""; [[ "$prec" == bf16 ]] && CL="--channels-last"
    timeout 150 "$PY" bench/gpu/reference_step.py --device "$DEV" --precision "$prec" --batch "$b" $CL $BENCH_REF
  done
done
step "the real pretraining step (MEP + CPP, CANS) at the anchor geometry, B = 8"
timeout 150 "$P" bench step --device "$DEV" --batch 8 --step pretrain $BENCH_OURS | grep -v "^bench step"
mark bench-end

step "pretraining speed: small preset (the demo's model), batch 16, 150 steps, toy-av"
mark small
timeout 120 "$P" pretrain --data toy-av --preset small --device "$DEV" --progress off --out "$OUT/pretrain-small" \
  --set pretrain.batch_size=16 --set pretrain.steps=$S_SMALL --set pretrain.warmup_steps=10 --set pretrain.checkpoint_every=0 | tail -3
trim_run "$OUT/pretrain-small"

mark end
fi

if [[ -f "$SWEEP" ]]; then
  step "demo configurations, ${SWEEP_PARALLEL:-4} at a time, until ${DEADLINE} s"
  mkdir -p "$OUT/sweep"
  grep -v '^#' "$SWEEP" | grep -v '^ *$' | \
    xargs -P "${SWEEP_PARALLEL:-4}" -L 1 bash -c 'n=$0; d="'"$OUT"'/sweep/$n"; left=$(( '"$DEADLINE"' - $(date +%s) + '"$START"' )); [[ $left -lt 45 ]] && { echo "sweep $n not started (deadline)"; exit 0; }; timeout $left '"$P"' demo --device '"$DEV"' --progress off --out "$d" '"$DEMO_ARGS"' "$@" > "$d.log" 2>&1; echo "sweep $n exit $? at $(( $(date +%s) - '"$START"' )) s"; trim_run "$d/pretrain"'
  for f in "$OUT"/sweep/*.log; do echo "--- $(basename "$f" .log)"; grep "^demo: \(random\|pretrained\)" "$f" | sed 's/ (.*//'; done
  # Only the summaries come back (the machine returns a limited number of files).
  find "$OUT/sweep" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
fi
kill $SMI 2>/dev/null
step "done"
