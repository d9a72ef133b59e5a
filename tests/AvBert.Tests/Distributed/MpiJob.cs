using System.Diagnostics;
using System.Text;

namespace AvBert.Tests.Distributed;

/// <summary>A test that starts `mpirun`; skipped, saying why, where Open MPI is not installed (`./avbert test` installs it).</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiJob.Mpirun is null) Skip = "mpirun not found: install Open MPI (apt-get install -y openmpi-bin libopenmpi-dev; `./avbert test` does it)";
    }
}

/// <summary>Runs the repo's ./avbert under `mpirun -np N` (or alone), as users do, with the settings this machine needs.</summary>
static class MpiJob
{
    public sealed record Result(int ExitCode, string Output, TimeSpan Elapsed);

    public static string? Mpirun => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    /// <summary>The tiny pretraining model of the unit tests, as --set arguments.</summary>
    public static readonly string[] TinyModel =
    [
        "model.visual.width_per_group=4", "model.audio.width_per_group=4",
        "model.transformer.hidden_size=32", "model.transformer.num_heads=2", "model.transformer.intermediate_size=64",
        "model.transformer.num_layers=1", "model.transformer.rank=8",
        "data.num_frames=4", "data.sequence_length=3", "data.train_crop_size=32", "data.test_crop_size=32",
        "data.train_jitter_scales=[32, 40]", "data.audio_frequency=16", "data.audio_time=32",
    ];

    public static IEnumerable<string> Sets(IEnumerable<string> sets) => sets.SelectMany(s => new[] { "--set", s });

    /// <summary>
    /// The ranks' model's CPU convolution check, run once before the job (`avbert info --check` with the job's preset and
    /// model/data settings), so that the ranks read its verdict instead of each walking the ladder at once: on a CPU whose
    /// fast paths fail, that takes seconds per rank, longer than the 10-s collective timeout some of these tests set.
    /// </summary>
    static void CheckConvolutions(string avbert, List<string> args)
    {
        var psi = new ProcessStartInfo(avbert) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("info");
        psi.ArgumentList.Add("--check");
        for (int i = 0; i + 1 < args.Count; i++)
            if (args[i] == "--preset" || args[i] == "--set" && (args[i + 1].StartsWith("model.") || args[i + 1].StartsWith("data.")))
            {
                psi.ArgumentList.Add(args[i]);
                psi.ArgumentList.Add(args[i + 1]);
            }
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"avbert info --check failed: {output}{err.Result}");
    }

    /// <param name="ranks">Processes under mpirun; 0: ./avbert alone (no launcher).</param>
    /// <param name="marker">Put into every rank's environment as AVBERT_TEST_JOB (to find the ranks' processes).</param>
    /// <param name="whileRunning">Called about twice a second while the job runs.</param>
    /// <param name="environment">Extra variables for every rank.</param>
    public static Result Avbert(int ranks, IEnumerable<string> args, TimeSpan timeout, string? marker = null, Action? whileRunning = null,
                                IReadOnlyDictionary<string, string>? environment = null)
    {
        var avbert = Path.Combine(TestSetup.RepoRoot, "avbert");
        if (ranks > 0) CheckConvolutions(avbert, args.ToList());
        var psi = new ProcessStartInfo(ranks > 0 ? Mpirun! : avbert) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (ranks > 0)
            foreach (var a in new[] { "-np", ranks.ToString(), "--oversubscribe", avbert }) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Running as root needs Open MPI's consent; in containers its single-copy shared memory path fails (no ptrace).
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        psi.Environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none";
        psi.Environment["AVBERT_TEST_JOB"] = marker ?? "";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var output = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        while (!p.WaitForExit(500))
        {
            if (clock.Elapsed > timeout)
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                throw new TimeoutException($"avbert {string.Join(' ', args)} ({ranks} ranks) still running after {timeout}: {output}");
            }
            whileRunning?.Invoke();
        }
        p.WaitForExit();
        lock (output) return new Result(p.ExitCode, output.ToString(), clock.Elapsed);
    }

    /// <summary>The process id of rank <paramref name="rank"/> of the job started with <paramref name="marker"/>, or null.</summary>
    public static int? RankProcess(string marker, int rank)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                var env = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0');
                if (env.Contains($"AVBERT_TEST_JOB={marker}") && env.Contains($"OMPI_COMM_WORLD_RANK={rank}") &&
                    File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("AvBert.Cli.dll"))
                    return pid;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return null;
    }
}
