#!/usr/bin/env bash
# Makes the SlowFast parity golden (tests/AvBert.Tests/Goldens/slowfast-r50.safetensors) by running PySlowFast's own
# model code (github.com/facebookresearch/SlowFast) with Debian's PyTorch. An offline developer tool: neither the suite
# nor the product runs it; the suite only reads the golden it wrote (see docs/PARITY.md).
#
#   scripts/make-slowfast-golden.sh PYSLOWFAST_REPO [OUT_DIR]
#
# PYSLOWFAST_REPO: a checkout of their repository, or its git directory (a bare clone). Their slowfast/ package is
# copied into a scratch folder outside this repository (never into it); the harness replaces its package __init__ files
# and stands in for the imports the model code makes but a SlowFast-R50 does not use (fvcore, iopath, pytorchvideo,
# detectron2). Needs: apt-get install -y python3-torch python3-numpy
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
src="${1:?usage: scripts/make-slowfast-golden.sh PYSLOWFAST_REPO [OUT_DIR]}"
out="${2:-$repo/tests/AvBert.Tests/Goldens}"
python=/usr/bin/python3
"$python" -c "import torch, numpy" 2>/dev/null ||
  { echo "error: $python lacks torch/numpy. Fix: apt-get install -y python3-torch python3-numpy" >&2; exit 2; }

scratch="$(mktemp -d "${TMPDIR:-/tmp}/avbert-slowfast.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/code"
if [ -d "$src/slowfast/models" ]; then
  cp -r "$src/slowfast" "$scratch/code/slowfast"
elif git --git-dir="$src" rev-parse --verify -q HEAD >/dev/null; then
  git --git-dir="$src" archive HEAD slowfast | tar -x -C "$scratch/code"
else
  echo "error: $src is neither a checkout nor a git directory of PySlowFast (no slowfast/models)." >&2; exit 2
fi
commit="$(git --git-dir="$src" rev-parse HEAD 2>/dev/null || git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
mkdir -p "$out"
"$python" "$here/goldens/make_slowfast_golden.py" --code "$scratch/code" --out "$out" --commit "$commit"
