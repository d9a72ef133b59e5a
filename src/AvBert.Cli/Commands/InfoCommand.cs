using AvBert.Model;
using AvBert.Runtime;
using System.CommandLine;
using TorchSharp;

namespace AvBert.Cli.Commands;

public static class InfoCommand
{
    public static Command Build()
    {
        var c = new Command("info", "Show the torch build, the devices, whether the libstdc++ fix was applied, this CPU's cache topology and convolution path; --check runs the CPU convolution self-check for the configured model");
        var config = new ConfigOptions();
        config.AddTo(c);
        var check = new Option<bool>("--check") { Description = "Run the CPU convolution self-check for the configured model (--preset/--config/--set) at its clip sizes" };
        c.Options.Add(check);
        c.SetAction(r =>
        {
            Console.WriteLine($"TorchSharp     {typeof(torch).Assembly.GetName().Version}");
            Console.WriteLine($"native fix     {NativeLibraryFix.Outcome}");
            bool cuda = torch.cuda.is_available();
            Console.WriteLine($"libtorch       {TorchRuntime.LoadedLibTorch() ?? "unknown"}");
            Console.WriteLine($"CUDA           {(cuda ? $"available, {torch.cuda.device_count()} device(s); cuDNN {(torch.cuda.is_cudnn_available() ? "available" : "not available")}" : "not available")}");
            Console.WriteLine($"CPU threads    {torch.get_num_threads()}");
            // [data parallel] the job this process runs in (under mpirun/srun), and whether Open MPI is there for one.
            Console.WriteLine($"data parallel  {(AvBert.Distributed.DataParallel.Current is { } dp ? dp.Describe() : "single process" + (FindOnPath("mpirun") is { } mpi ? $" (Open MPI: {mpi})" : " (mpirun not found: apt-get install -y openmpi-bin libopenmpi-dev)"))}");
            Console.WriteLine($"FFmpeg         {FindOnPath("ffmpeg") ?? "not found (needed for video files: apt-get install -y ffmpeg)"}");
            Console.WriteLine($"CPU caches     {CpuCacheTopology.Read()?.Describe() ?? "not an x86-64 CPU"}");
            var cfg = config.Load(r);
            if (!r.GetValue(check))
            {
                var remembered = ConvolutionGuard.RememberedRung();
                string why = remembered?.Cap == TorchRuntime.OneDnnIsaCap ? "remembered for this CPU" : "this CPU hides its caches";
                string start = TorchRuntime.OneDnnIsaCap is { } cap ? $"oneDNN capped at {cap}{(TorchRuntime.OneDnnIsaCapIsOurs ? $" ({why})" : " (your ONEDNN_MAX_CPU_ISA)")}"
                             : remembered is { OneDnn: false } ? "oneDNN off (remembered for this CPU)" : "oneDNN at the full ISA";
                Console.WriteLine($"convolutions   starts on {start}; `avbert info --check` runs the self-check for this model (each model runs it before its first CPU convolution)");
                return 0;
            }
            // The check every model runs before its first CPU convolution, here for the configured model at its clip sizes.
            try { ConvolutionGuard.Default.Ensure(ConvolutionShapes.For(cfg.Model, cfg.Data)); }
            catch (ConvolutionCheckFailed e)
            {
                Console.WriteLine($"convolutions   FAILED: {e.Message}");
                return e.ExitCode;
            }
            Console.WriteLine($"convolutions   {ConvolutionGuard.Default.Verdict}");
            return 0;
        });
        return c;
    }

    static string? FindOnPath(string exe) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, exe)).FirstOrDefault(File.Exists);
}
