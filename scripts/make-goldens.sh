#!/usr/bin/env bash
# Makes the parity goldens under tests/AvBert.Tests/Goldens/ by running the authors' AVBERT code
# (github.com/sangho-vision/avbert) with Debian's PyTorch. An offline developer tool: neither the suite nor the
# product runs it; the suite only reads the goldens it wrote (see docs/PARITY.md).
#
#   scripts/make-goldens.sh AUTHORS_REPO [OUT_DIR] [CASE...]
#
# AUTHORS_REPO: a checkout of their repository, or its git directory (a bare clone). Their code is copied into a
# scratch folder outside this repository (never into it), next to small stand-ins for the imports the model code makes
# but does not use at run time (fvcore). Needs: apt-get install -y python3-torch python3-yaml python3-numpy python3-scipy
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
src="${1:?usage: scripts/make-goldens.sh AUTHORS_REPO [OUT_DIR] [CASE...]}"
out="${2:-$repo/tests/AvBert.Tests/Goldens}"
shift $(( $# >= 2 ? 2 : 1 ))
python=/usr/bin/python3
"$python" -c "import torch, yaml, numpy, scipy" 2>/dev/null ||
  { echo "error: $python lacks torch/yaml/numpy/scipy. Fix: apt-get install -y python3-torch python3-yaml python3-numpy python3-scipy" >&2; exit 2; }

scratch="$(mktemp -d "${TMPDIR:-/tmp}/avbert-goldens.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
if [ -d "$src/code/models" ]; then
  cp -r "$src/code" "$scratch/code"
elif git --git-dir="$src" rev-parse --verify -q HEAD >/dev/null; then
  mkdir -p "$scratch/code" && git --git-dir="$src" archive HEAD code | tar -x -C "$scratch"
else
  echo "error: $src is neither a checkout nor a git directory of the authors' repository (no code/models)." >&2; exit 2
fi
commit="$(git --git-dir="$src" rev-parse HEAD 2>/dev/null || git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
mkdir -p "$out"
"$python" "$here/goldens/make_goldens.py" --code "$scratch/code" --out "$out" --commit "$commit" "$@"
