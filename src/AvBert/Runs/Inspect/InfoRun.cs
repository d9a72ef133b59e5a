using AvBert.Config;
using AvBert.Distributed;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;

namespace AvBert.Runs;

/// <summary>`avbert info`: the torch build, the devices, the data-parallel job, FFmpeg, the CPU's caches and the
/// convolution path (docs/cpu-correctness.md).</summary>
public static class InfoRun
{
    /// <summary>The lines about this machine and process, label and value (before any config is read).</summary>
    public static IReadOnlyList<(string Label, string Value)> Machine()
    {
        bool cuda = torch.cuda.is_available();
        return
        [
            ("TorchSharp", $"{typeof(torch).Assembly.GetName().Version}"),
            ("native fix", $"{NativeLibraryFix.Outcome}"),
            ("libtorch", TorchRuntime.LoadedLibTorch() ?? "unknown"),
            ("CUDA", cuda ? $"available, {torch.cuda.device_count()} device(s); cuDNN {(torch.cuda.is_cudnn_available() ? "available" : "not available")}" : "not available"),
            ("CPU threads", $"{torch.get_num_threads()}"),
            // [data parallel] the job this process runs in (under mpirun/srun), and whether Open MPI is there for one.
            ("data parallel", DataParallel.Current is { } dp ? dp.Describe() : "single process" + (FindOnPath("mpirun") is { } mpi ? $" (Open MPI: {mpi})" : " (mpirun not found: apt-get install -y openmpi-bin libopenmpi-dev)")),
            ("FFmpeg", FindOnPath("ffmpeg") ?? "not found (needed for video files: apt-get install -y ffmpeg)"),
            ("CPU caches", CpuCacheTopology.Read()?.Describe() ?? "not an x86-64 CPU"),
        ];
    }

    /// <summary>Where convolutions start on this CPU (without <paramref name="check"/>), or the verdict of the CPU convolution
    /// self-check for <paramref name="cfg"/>'s model at its clip sizes; the exit code is the check's (0 when it passes).</summary>
    public static (string Line, int ExitCode) Convolutions(AvBertConfig cfg, bool check)
    {
        if (!check)
        {
            var remembered = ConvolutionGuard.RememberedRung();
            string why = remembered?.Cap == TorchRuntime.OneDnnIsaCap ? "remembered for this CPU" : "this CPU hides its caches";
            string start = TorchRuntime.OneDnnIsaCap is { } cap ? $"oneDNN capped at {cap}{(TorchRuntime.OneDnnIsaCapIsOurs ? $" ({why})" : " (your ONEDNN_MAX_CPU_ISA)")}"
                         : remembered is { OneDnn: false } ? "oneDNN off (remembered for this CPU)" : "oneDNN at the full ISA";
            return ($"starts on {start}; `avbert info --check` runs the self-check for this model (each model runs it before its first CPU convolution)", ExitCodes.Ok);
        }
        // The check every model runs before its first CPU convolution, here for the configured model at its clip sizes.
        try { ConvolutionGuard.Default.Ensure(ConvolutionShapes.For(cfg.Model, cfg.Data)); }
        catch (ConvolutionCheckFailed e) { return ($"FAILED: {e.Message}", e.ExitCode); }
        return (ConvolutionGuard.Default.Verdict, ExitCodes.Ok);
    }

    static string? FindOnPath(string exe) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, exe)).FirstOrDefault(File.Exists);
}
