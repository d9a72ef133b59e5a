using System.Runtime.CompilerServices;
using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Tests.Model;

namespace AvBert.Tests;

static class TestSetup
{
    /// <summary>Every test process applies the native-library fix before its first torch call, as the CLI does.</summary>
    [ModuleInitializer]
    internal static void Init()
    {
        TorchRuntime.Initialize();
        TorchSharp.torch.set_num_threads(Math.Max(1, Environment.ProcessorCount));
        ConvolutionGuard.Default.CacheDirectory = null; // every test run checks this machine's convolutions afresh
        // The self-check's child processes run the CLI that this test project builds beside it.
        var config = AppContext.BaseDirectory.Contains("/Debug/") ? "Debug" : "Release";
        CliProcess.Host = ("dotnet", [Path.Combine(RepoRoot, "src", "AvBert.Cli", "bin", config, "net10.0", "linux-x64", "AvBert.Cli.dll")]);
        // Before any test runs a convolution: the rung this process runs on (an ISA cap only takes effect before oneDNN's
        // first use), proven for the tiny and small presets' classes; classes of other models are checked as they come.
        var small = ConfigLoader.Load("small");
        ConvolutionGuard.Default.Ensure(ConvolutionShapes.For(TinyModels.Model(), TinyModels.Data)
            .Concat(ConvolutionShapes.For(small.Model, small.Data)));
    }

    /// <summary>../shared/reference, found by walking up from the test binary (the repo sits beside shared/).</summary>
    public static string ReferenceDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "reference");
                if (Directory.Exists(candidate)) return candidate;
                dir = dir.Parent;
            }
            throw new DirectoryNotFoundException("shared/reference not found above " + AppContext.BaseDirectory + ": the repository must sit next to shared/.");
        }
    }

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "avbert"))) dir = dir.Parent;
            return dir?.FullName ?? throw new DirectoryNotFoundException("repo root (with ./avbert) not found");
        }
    }

    public static string TempDir(string name)
    {
        var d = Path.Combine(Path.GetTempPath(), "avbert-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }
}
