using System.Diagnostics;

namespace AvBert.Bench;

/// <summary>Runs the ffmpeg program for the benchmarks' media (generation, the `-f null` floor); throws with its stderr.</summary>
static class BenchFfmpeg
{
    public static void Run(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException("ffmpeg failed: " + err);
    }
}
