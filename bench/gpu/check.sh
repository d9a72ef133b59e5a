#!/usr/bin/env bash
# The one prepared GPU session, well inside 8 minutes (DEADLINE, default 420 s; every phase is cut off at the deadline):
#   1. CUDA parity in strict fp32: tiny-a converted from the authors' checkpoint, `forward --device cuda` against the goldens;
#   2. the anchor (B videos x T = 10 clips of 32x112^2 + 80x128), ours (`avbert bench step --step model`) and
#      bench/gpu/reference_step.py (the same network in plain PyTorch, written by us) side by side: B = 8 and 16 in bf16
#      (the reference with channels_last_3d + cudnn.benchmark: the hand-tuned figure), B = 8 in tf32 and fp32; clips/s,
#      phase times and peak memory (CUDA caching allocator) on every line;
#   2b. memory at the anchor, B = 8 and 16: fp16 (autocast + loss scaling, for GPUs without bf16) and activation
#      checkpointing (train.checkpoint_activations=cnn in bf16 and fp16, cnn_blocks in bf16), 4 timed steps each;
#      goals (issue 25): <= 19 GiB in bf16 without checkpointing, <= 10 GiB with it, at B = 8;
#   3. the real pretraining step (MEP + CPP heads, CANS) at B = 8: on synthetic inputs, and fed by the real loader
#      (toy-av on the CPU) at 1 and cores - 2 workers with the time the trainer waits for data;
#   4. a short pretraining run (small preset, toy-av) with its peak GPU memory, and the same fed from a `prep` cache;
#   5. the NCCL path: `bench allreduce` under `mpirun -np 1` (where Open MPI is installed).
# Everything goes to OUT/log.txt; the measured lines are collected in OUT/results.md (the one results file to read).
# Runs the CLI published by scripts/publish-external-libtorch.sh against the machine's PyTorch libtorch (no .NET there).
# Usage, from the repo root on the GPU machine (see bench/gpu/README.md for preparing publish/):
#   bench/gpu/check.sh [OUT]
# Optional: SWEEP_FILE=bench/gpu/sweep.txt adds demo configurations (several at a time) until the deadline.
# Check the script itself on any machine: QUICK=1 DEVICE=cpu (a tiny geometry and a few steps of everything);
# AVBERT=PATH and REF=DIR point at another CLI and goldens folder (e.g. ./avbert and ../shared/reference).
set -u
OUT="${1:-${OUT:-/tmp/gpu-check}}"
mkdir -p "$OUT"
P="${AVBERT:-publish/external-libtorch/avbert}"
REF="${REF:-publish/reference}"
DEV="${DEVICE:-cuda}"
PY="${PYTHON:-python3}"
DEADLINE="${DEADLINE:-420}"
CORES=$(nproc)
WORKERS="1,$(( CORES > 3 ? CORES - 2 : 1 ))"
if [[ "${QUICK:-0}" == 1 ]]; then
  OURS="--preset small --steps 2 --set data.sequence_length=2 --set data.num_frames=4 --set data.train_crop_size=32 --set data.train_jitter_scales=[32,40]"
  LOADER="$OURS"; MEM="$OURS"; REFG="--tiny --steps 2 --warmup 1"; S_SMALL=3; B_SMALL=2
else
  OURS="--preset full --steps 10"; LOADER="--preset full --steps 5"; MEM="--preset full --steps 4"; REFG="--steps 10"; S_SMALL=100; B_SMALL=16
fi
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
# Seconds a phase may take: its own cap, but never past the deadline.
budget() { local left=$(( DEADLINE - $(elapsed) )); (( left < $1 )) && echo $(( left > 5 ? left : 5 )) || echo "$1"; }
late() { (( $(elapsed) >= DEADLINE - 10 )); }
phase() { echo; echo "== [$(elapsed) s] $*"; }
exec > >(tee "$OUT/log.txt") 2>&1

phase "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
"$PY" -c 'import torch; print("pytorch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
echo "cores $CORES"
timeout "$(budget 60)" "$P" info | grep -v "^ *$"

# GPU memory in use, sampled every 200 ms for the whole session (the peak goes into the results).
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/gpu-memory.csv" 2>/dev/null &
SMI=$!

phase "parity: tiny-a on $DEV, strict fp32 (tolerance max|ours-ref| <= 2e-4 max|ref|)"
timeout "$(budget 60)" "$P" convert --from-reference "$REF/tiny-a.pyth" --reference-config "$REF/tiny-a.config.yaml" --out "$OUT/tiny-a" > /dev/null
timeout "$(budget 60)" "$P" forward --model "$OUT/tiny-a" --inputs "$REF/tiny-a.io.safetensors" --out "$OUT/tiny-a.out.safetensors" --device "$DEV"
echo "parity: forward exit $?"
rm -rf "$OUT/tiny-a" "$OUT/tiny-a.out.safetensors"

phase "anchor, bf16, B = 8 and 16: ours vs plain PyTorch with channels_last_3d + cudnn.benchmark"
late || timeout "$(budget 120)" "$P" bench step --device "$DEV" --step model --precision bf16 --batch 8,16 $OURS
for b in 8 16; do late || timeout "$(budget 60)" "$PY" bench/gpu/reference_step.py --device "$DEV" --precision bf16 --batch "$b" --channels-last $REFG; done

phase "anchor, memory: fp16 (loss scaling) and activation checkpointing (cnn, cnn_blocks), B = 8 and 16"
late || timeout "$(budget 60)" "$P" bench step --device "$DEV" --step model --precision fp16 --batch 8,16 $MEM
late || timeout "$(budget 100)" "$P" bench step --device "$DEV" --step model --precision bf16,fp16 --batch 8,16 $MEM --set train.checkpoint_activations=cnn
late || timeout "$(budget 60)" "$P" bench step --device "$DEV" --step model --precision bf16 --batch 8,16 $MEM --set train.checkpoint_activations=cnn_blocks

phase "anchor, tf32 and fp32, B = 8: ours vs plain PyTorch"
late || timeout "$(budget 100)" "$P" bench step --device "$DEV" --step model --precision tf32,fp32 --batch 8 $OURS
for prec in tf32 fp32; do late || timeout "$(budget 60)" "$PY" bench/gpu/reference_step.py --device "$DEV" --precision "$prec" --batch 8 $REFG; done

phase "the real pretraining step (MEP + CPP, CANS), B = 8: synthetic inputs, then the real loader at $WORKERS workers"
late || timeout "$(budget 80)" "$P" bench step --device "$DEV" --step pretrain --batch 8 $OURS
late || timeout "$(budget 100)" "$P" bench step --device "$DEV" --step loader --batch 8 --workers "$WORKERS" $LOADER

phase "short pretraining run: small preset (the demo's model), batch $B_SMALL, $S_SMALL steps, toy-av"
late || timeout "$(budget 90)" "$P" pretrain --data toy-av --preset small --device "$DEV" --progress off --out "$OUT/pretrain-small" \
  --set pretrain.batch_size=$B_SMALL --set pretrain.steps=$S_SMALL --set pretrain.warmup_steps=10 --set pretrain.checkpoint_every=0 | tail -4
rm -rf "$OUT/pretrain-small/checkpoints" "$OUT/pretrain-small/model" "$OUT/pretrain-small/tb"

phase "pretraining fed from a prep cache (raw frames): toy-av:64 prepared, then $S_SMALL steps, small preset"
if ! late && command -v ffmpeg > /dev/null; then
  timeout "$(budget 60)" "$P" prep --data toy-av:64 --preset small --out "$OUT/cache" 2>&1 | tail -2
  late || timeout "$(budget 90)" "$P" pretrain --data "prepared:$OUT/cache" --preset small --device "$DEV" --progress off --out "$OUT/pretrain-cache" \
    --workers "$(( CORES > 3 ? CORES - 2 : 1 ))" --set pretrain.batch_size=$B_SMALL --set pretrain.steps=$S_SMALL --set pretrain.warmup_steps=10 \
    --set pretrain.checkpoint_every=0 | tail -4
  rm -rf "$OUT/cache" "$OUT/pretrain-cache"
else echo "pretrain-cache: skipped (no ffmpeg on this machine, or the deadline)"; fi

phase "NCCL: the all-reduce of one GPU under mpirun -np 1 (exercises the NCCL path; bandwidth needs more GPUs)"
if ! late && command -v mpirun > /dev/null; then
  timeout "$(budget 60)" mpirun --allow-run-as-root -np 1 "$P" bench allreduce --device "$DEV" --preset small --steps 3 2>&1 | tail -8
else echo "allreduce: skipped (no mpirun on this machine, or the deadline)"; fi

if [[ -n "${SWEEP_FILE:-}" && -f "$SWEEP_FILE" ]]; then
  phase "demo configurations from $SWEEP_FILE, ${SWEEP_PARALLEL:-4} at a time, until ${DEADLINE} s"
  mkdir -p "$OUT/sweep"
  grep -v '^#' "$SWEEP_FILE" | grep -v '^ *$' | \
    xargs -P "${SWEEP_PARALLEL:-4}" -L 1 bash -c 'n=$0; d="'"$OUT"'/sweep/$n"; left=$(( '"$DEADLINE"' - $(date +%s) + '"$START"' )); [[ $left -lt 45 ]] && { echo "sweep $n not started (deadline)"; exit 0; }; timeout $left '"$P"' demo --device '"$DEV"' --progress off --out "$d" "$@" > "$d.log" 2>&1; echo "sweep $n exit $? at $(( $(date +%s) - '"$START"' )) s"'
  for f in "$OUT"/sweep/*.log; do echo "--- $(basename "$f" .log)"; grep "^demo: \(random\|pretrained\)" "$f" | sed 's/ (.*//'; done
  find "$OUT/sweep" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
fi
kill $SMI 2>/dev/null
phase "done"

sleep 1   # let tee write the last lines
# The one results file: the measured lines of the log, grouped.
{
  echo "# GPU check $(date -u '+%Y-%m-%d %H:%M UTC'), $(elapsed) s (deadline $DEADLINE s)"
  echo; echo "## machine"
  grep -E "^(NVIDIA|pytorch |cores )" "$OUT/log.txt" | sed 's/^/    /'
  echo; echo "## parity (strict fp32)"
  grep -E "^(parity:|compared with|  .*max\|diff\||all outputs|some outputs)" "$OUT/log.txt" | sed 's/^/    /'
  echo; echo "## training step: ours (model, pretraining, loader) and the plain-PyTorch reference"
  grep -E "^(model|pretraining|loader|reference-pytorch) " "$OUT/log.txt" | sed 's/^/    /'
  grep -E "^bench step:" "$OUT/log.txt" | head -1 | sed 's/^/    /'
  echo; echo "## short pretraining runs (toy-av in memory, then from a prep cache)"
  grep -E "^(pretrain: |pretrain-cache: |prep: )" "$OUT/log.txt" | sed 's/^/    /'
  echo; echo "## NCCL all-reduce (1 GPU)"
  grep -iE "^(allreduce|all-reduce|nccl)" "$OUT/log.txt" | sed 's/^/    /'
  echo; echo "## GPU memory in use (nvidia-smi, whole session)"
  if [[ -s "$OUT/gpu-memory.csv" ]]; then
    echo "    peak $(cut -d, -f2 "$OUT/gpu-memory.csv" | sort -n | tail -1 | tr -d ' ') MiB"
  else echo "    no samples (no nvidia-smi)"; fi
  echo; echo "## errors"
  grep -E "^(error|warning)|rror:|Exception" "$OUT/log.txt" | sed 's/^/    /' | head -20
} > "$OUT/results.md"
cat "$OUT/results.md"
