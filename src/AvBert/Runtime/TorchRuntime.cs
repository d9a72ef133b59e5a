using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runtime;

/// <summary>Process-wide torch setup: the native-library fix, device choice, threads. Call before any tensor work.</summary>
public static class TorchRuntime
{
    static bool _initialised;

    public static void Initialize()
    {
        if (_initialised) return;
        NativeLibraryFix.Apply();
        _initialised = true;
    }

    /// <summary>Resolves "cpu", "cuda", "cuda:N" or "auto" (CUDA when available, else CPU).</summary>
    public static Device ResolveDevice(string spec)
    {
        Initialize();
        spec = (spec ?? "auto").Trim().ToLowerInvariant();
        if (spec == "auto") return cuda.is_available() ? CUDA : CPU;
        if (spec.StartsWith("cuda"))
        {
            if (!cuda.is_available())
                throw new UserError($"--device {spec}: CUDA is not available in this build or on this machine. " +
                                    "Fix: use --device cpu, or run against a CUDA libtorch (see README, 'GPU').");
            return new Device(spec);
        }
        if (spec == "cpu") return CPU;
        throw new UserError($"--device {spec}: unknown device. Valid: cpu, cuda, cuda:N, auto.");
    }
}
