#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs FFmpeg and Open MPI when missing, builds, runs every test,
# and ends with one line "tests: N passed, N failed, N skipped".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# A larger first GC generation (128 MiB; yours wins if set): far fewer collections, and so fewer chances for
# TorchSharp 0.107's scalar race (a finalizer freeing a number libtorch is reading; docs/cpu-correctness.md).
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x8000000}"

if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "test: FFmpeg not found, installing it with apt-get..."
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >/dev/null
fi
ffmpeg -version | head -1
# The data-parallel tests start `mpirun -np 2` (Open MPI; libmpi is P/Invoked, so the -dev package's libmpi.so.40 link is needed too).
if ! command -v mpirun >/dev/null 2>&1; then
  echo "test: Open MPI not found, installing it with apt-get..."
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null
fi
mpirun --version | head -1

RESULTS="$(mktemp -d)"
trap 'rm -rf "$RESULTS"' EXIT
set +e
dotnet test "$ROOT/tests/AvBert.Tests/AvBert.Tests.csproj" -c Release -nologo \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" --results-directory "$RESULTS" "$@" \
  2>&1 | tee "$RESULTS/console.log"
rc=${PIPESTATUS[0]}
set -e
# Each failed test again at the end, with its message and the top of its stack, so that the tail of a CI log names it.
awk '
  /^  Failed / { printing = 1; lines = 0; print ""; print; next }
  /^  (Passed|Skipped) |^\[xUnit|^Results File|^Test Run|^Total tests/ { printing = 0 }
  printing && lines < 40 { print; lines++ }
' "$RESULTS/console.log" > "$RESULTS/failures.txt" || true
if [[ -s "$RESULTS/failures.txt" ]]; then
  echo; echo "test: the failed tests again:"; cat "$RESULTS/failures.txt"; echo
fi
TRX="$RESULTS/results.trx"
if [[ -f "$TRX" ]]; then
  counters=$(grep -o '<Counters [^>]*>' "$TRX" | head -1)
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  total=$(get total); passed=$(get passed); failed=$(get failed)
  skipped=$(( total - passed - failed ))
  echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
  [[ "$total" -gt 0 ]] || { echo "test: no test ran"; exit 1; }
else
  echo "test: no results were written (build failure?)"
  [[ $rc -ne 0 ]] || rc=1
fi
exit $rc
