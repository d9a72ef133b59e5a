#!/usr/bin/env bash
# Publishes the CLI as one self-contained executable WITHOUT libtorch, to run against an existing PyTorch installation's
# libtorch (CPU or CUDA; PyTorch 2.10/2.11 tested). The target machine needs no .NET and no 2 GB CUDA libtorch download.
#   scripts/publish-external-libtorch.sh [OUT]        (default OUT: publish/external-libtorch)
# OUT then holds: avbert (the launcher), AvBert.Cli (the executable), libLibTorchSharp.so. Copy OUT over and run
#   OUT/avbert info            # finds libtorch through LD_LIBRARY_PATH, or through `python3 -c "import torch"`
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/publish/external-libtorch}")"
ARTIFACTS="$(mktemp -d)"
trap 'rm -rf "$ARTIFACTS"' EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# A separate artifacts folder: the normal build (with the CPU libtorch package) keeps its own obj/ and bin/.
dotnet publish "$ROOT/src/AvBert.Cli/AvBert.Cli.csproj" -c Release -r linux-x64 --self-contained \
  -p:AvBertLibTorch=external -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true \
  -p:IncludeNativeLibrariesForSelfExtract=false --artifacts-path "$ARTIFACTS" -o "$OUT" -nologo -v q -tl:off

# TorchSharp's own native glue (built against libtorch 2.10's ABI) goes beside the executable.
GLUE="$(find "${NUGET_PACKAGES:-$HOME/.nuget/packages}/torchsharp" -path '*/runtimes/linux-x64/native/libLibTorchSharp.so' | sort | tail -1)"
[[ -f "$GLUE" ]] || { echo "publish: libLibTorchSharp.so not found in the NuGet cache (restore TorchSharp first)" >&2; exit 1; }
cp "$GLUE" "$OUT/"
rm -f "$OUT"/*.pdb

cat > "$OUT/avbert" <<'LAUNCHER'
#!/usr/bin/env bash
# Runs AvBert.Cli against an installed libtorch: LD_LIBRARY_PATH when it already has libtorch.so, else PyTorch's lib folder.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
has_libtorch() { local IFS=:; for d in ${LD_LIBRARY_PATH:-}; do [[ -f "$d/libtorch.so" ]] && return 0; done; return 1; }
if ! has_libtorch; then
  for py in python3 python /usr/bin/python3; do
    if LIB="$("$py" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)" && [[ -f "$LIB/libtorch.so" ]]; then
      export LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      break
    fi
  done
fi
has_libtorch || { echo "avbert: no libtorch found: set LD_LIBRARY_PATH to a folder with libtorch.so, or install PyTorch" >&2; exit 1; }
exec "$HERE/AvBert.Cli" "$@"
LAUNCHER
chmod +x "$OUT/avbert" "$OUT/AvBert.Cli"
du -sh "$OUT" | sed 's/^/publish: /'
