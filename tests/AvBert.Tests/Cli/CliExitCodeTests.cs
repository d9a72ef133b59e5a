using System.Diagnostics;
using AvBert.Runtime;

namespace AvBert.Tests.Cli;

/// <summary>The built CLI run as a user would: exit codes from the table, one line on stderr, signals honoured.</summary>
public class CliExitCodeTests
{
    static string CliDll
    {
        get
        {
            var config = AppContext.BaseDirectory.Contains("/bin/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
            var dll = Path.Combine(TestSetup.RepoRoot, "src", "AvBert.Cli", "bin", config, "net10.0", "linux-x64", "AvBert.Cli.dll");
            Assert.True(File.Exists(dll), $"{dll} not built (the test project builds it)");
            return dll;
        }
    }

    static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    static (int Code, string Stderr) Run(params string[] args)
    {
        using var p = Start(args);
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "the CLI did not finish");
        return (p.ExitCode, err.Result);
    }

    [Fact]
    public void User_caused_failures_end_with_one_line_and_exit_code_2()
    {
        var dir = TestSetup.TempDir("cli");
        var file = Path.Combine(dir, "a-file");
        File.WriteAllText(file, "x");
        var yaml = Path.Combine(dir, "complex.yaml");
        File.WriteAllText(yaml, "model:\n  ? [a, b]\n  : 1\n");
        foreach (var (args, says) in new[]
                 {
                     (new[] { "synth", "--out", file }, $"{file} is a file"),
                     (new[] { "config", "--config", yaml }, "plain name"),
                 })
        {
            var (code, err) = Run(args);
            Assert.Equal(ExitCodes.UserError, code);
            var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: ", line);
            Assert.Contains(says, line);
        }
    }

    [Fact]
    public void Sigterm_stops_a_command_that_takes_no_cancellation_token_with_exit_code_130()
    {
        var dir = TestSetup.TempDir("cli");
        var fifo = Path.Combine(dir, "config.fifo"); // reading it blocks until a writer comes: a command busy for ever
        using (var mk = Process.Start("mkfifo", [fifo])) mk.WaitForExit();
        var ckpt = Path.Combine(dir, "ckpt.pyth");
        File.WriteAllText(ckpt, "");
        using var p = Start("convert", "--from-reference", ckpt, "--reference-config", fifo, "--out", Path.Combine(dir, "out"));
        var err = p.StandardError.ReadToEndAsync();
        Thread.Sleep(3000); // let it reach the blocking read (the runtime starts in well under that)
        Process.Start("kill", ["-TERM", p.Id.ToString()])!.WaitForExit();
        bool exited = p.WaitForExit(15_000);
        if (!exited) p.Kill(entireProcessTree: true);
        Assert.True(exited, "SIGTERM did not stop 'convert'");
        Assert.Equal(ExitCodes.Interrupted, p.ExitCode);
        Assert.Contains("interrupted", err.Result);
    }
}
