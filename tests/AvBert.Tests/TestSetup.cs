using System.Runtime.CompilerServices;
using AvBert.Runtime;

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
