using System.Runtime.InteropServices;
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
        QuietOpenMpThreads();
        NativeLibraryFix.Apply();
        _initialised = true;
        NoNnpack();
        CapOneDnnIsa();
    }

    /// <summary>The ISA cap oneDNN runs with in this process (ONEDNN_MAX_CPU_ISA): the user's, or one that
    /// <see cref="ConvolutionGuard"/> chose for this machine (<see cref="OneDnnIsaCapIsOurs"/>); null for none.</summary>
    public static string? OneDnnIsaCap { get; private set; }

    /// <summary><see cref="OneDnnIsaCap"/> was set by us, not by the user.</summary>
    public static bool OneDnnIsaCapIsOurs { get; private set; }

    /// <summary>
    /// On a machine where the convolution self-check moved down the ladder before (<see cref="ConvolutionGuard"/>), later
    /// processes start on the rung it remembered: oneDNN capped at AVX2 or SSE4.1 (ONEDNN_MAX_CPU_ISA; oneDNN reads it when
    /// it first runs, so it goes into the process environment here, before any torch operation), or oneDNN off. The guard
    /// checks that rung like any other. A cap the user set wins; AVBERT_CONV_CHECK=off or force applies none.
    /// </summary>
    /// <para>On a CPU that hides its cache topology (<see cref="CpuCacheTopology"/>) every process starts at SSE4.1 at most:
    /// oneDNN's brgemm kernels (AVX2 and up) size their blocks from the L1/L2 sizes, which read as 0 there, and that was
    /// seen to crash (SIGFPE) and to compute wrongly; the self-check runs at batch 2, and such a blocking depends on the
    /// batch. Two demo runs at AVX2 failed in training (NaN, a libtorch assertion) where SSE4.1 runs did not; whether AVX2
    /// or a TorchSharp scalar-lifetime race caused that is not settled (docs/cpu-correctness.md). SSE4.1 has no brgemm kernels.</para>
    static void CapOneDnnIsa()
    {
        OneDnnIsaCap = Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA");
        if (OneDnnIsaCap is not null || !OperatingSystem.IsLinux()) return;
        switch (ConvolutionGuard.RememberedRung())
        {
            case { OneDnn: false }:
                if (LibTorchContext.Available) LibTorchContext.OneDnnEnabled = false;
                return;
            case { Cap: { } cap }:
                SetOneDnnIsaCap(cap);
                break;
        }
        if (HiddenCachesCap(OneDnnIsaCap, Environment.GetEnvironmentVariable(ConvolutionGuard.ModeVariable), CpuCacheTopology.Read()) is { } low)
            SetOneDnnIsaCap(low);
    }

    /// <summary>The cap a CPU with hidden caches starts at (SSE4.1) when nothing lower is in force and the self-check is
    /// not off (its probe children run with it off, so they test the rung they are given); null otherwise.</summary>
    internal static string? HiddenCachesCap(string? capNow, string? checkMode, CpuCacheTopology? caches)
    {
        var lowest = ConvRung.Caps[^1];
        if (caches is not { Hidden: true } || checkMode?.Trim().ToLowerInvariant() == "off") return null;
        if (capNow is not null && Array.IndexOf(ConvRung.Caps, capNow) >= Array.IndexOf(ConvRung.Caps, lowest)) return null;
        return lowest;
    }

    /// <summary>Caps oneDNN at <paramref name="cap"/> for this process (libc setenv: oneDNN reads the C environment, not
    /// .NET's copy). It takes effect only if oneDNN has not run yet in this process.</summary>
    internal static void SetOneDnnIsaCap(string cap)
    {
        try
        {
            if (setenv("ONEDNN_MAX_CPU_ISA", cap, 1) == 0) (OneDnnIsaCap, OneDnnIsaCapIsOurs) = (cap, true);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    /// <summary>
    /// ATen tries NNPACK only for a conv2d that oneDNN declines with a batch of 16 or more, which happens when oneDNN is off
    /// (<see cref="ConvolutionGuard"/>'s workaround); then convolutions would run on a third implementation that the
    /// self-check (batch 2) never saw, and where NNPACK cannot start every process logs "Could not initialize NNPACK!".
    /// Off, ATen's own convolutions run, the ones the check proved.
    /// </summary>
    static void NoNnpack()
    {
        if (LibTorchContext.Available) LibTorchContext.NnpackEnabled = false;
    }

    /// <summary>
    /// libtorch's OpenMP threads spin while idle unless OMP_WAIT_POLICY says otherwise; on small or shared machines
    /// (and beside our decode workers) that costs far more than it saves: a tiny training step measured 1001 ms spinning
    /// vs 33 ms passive on a busy 2-core VM. OpenMP reads the variable when libtorch loads, so it must be in the
    /// process environment (libc setenv; .NET's own environment copy is not seen) before the first torch call.
    /// A value the user set wins.
    /// </summary>
    static void QuietOpenMpThreads()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null) return;
        try { _ = setenv("OMP_WAIT_POLICY", "PASSIVE", 0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [DllImport("libc", SetLastError = true)]
    static extern int setenv(string name, string value, int overwrite);

    /// <summary>
    /// The folder of the libtorch this process loaded (the NuGet package's copy, or an installed PyTorch's when published
    /// with scripts/publish-external-libtorch.sh), read from /proc/self/maps; null where that is not readable.
    /// </summary>
    public static string? LoadedLibTorch()
    {
        Initialize();
        _ = torch.get_num_threads(); // makes sure libtorch is loaded
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash < 0) continue;
                var path = line[slash..].Trim();
                if (Path.GetFileName(path) == "libtorch_cpu.so") return Path.GetDirectoryName(path);
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
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
                                    "Fix: use --device cpu, or run against a CUDA libtorch (see docs/performance-and-gpu.md).");
            return new Device(spec);
        }
        if (spec == "cpu") return CPU;
        throw new UserError($"--device {spec}: unknown device. Valid: cpu, cuda, cuda:N, auto.");
    }
}
