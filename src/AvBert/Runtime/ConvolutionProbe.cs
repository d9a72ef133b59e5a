using System.Diagnostics;
using System.Text.Json;

namespace AvBert.Runtime;

/// <summary>
/// One rung of the convolution ladder (docs/cpu-correctness.md): oneDNN at the CPU's full instruction set, or
/// capped (<c>ONEDNN_MAX_CPU_ISA</c>) at AVX2 or SSE4.1, or switched off (ATen's own convolutions).
/// </summary>
/// <param name="Cap">the ISA cap; null: none (the full ISA), or oneDNN off</param>
/// <param name="OneDnn">oneDNN on</param>
/// <param name="Users">the cap is the user's own ONEDNN_MAX_CPU_ISA</param>
public sealed record ConvRung(string? Cap, bool OneDnn, bool Users = false)
{
    public static readonly ConvRung Full = new(null, true);
    public static readonly ConvRung Off = new(null, false);

    /// <summary>The caps the ladder tries, from the fastest down.</summary>
    public static readonly string[] Caps = ["AVX2", "SSE41"];

    /// <summary>"full", "AVX2", "SSE41" or "off" (the name cached verdicts and the remembered rung use).</summary>
    public string Name => !OneDnn ? "off" : Cap ?? "full";

    public string Describe() => !OneDnn ? "oneDNN off (ATen's convolutions)"
        : Cap is null ? "oneDNN at the full ISA" : $"oneDNN capped at {Cap}{(Users ? " (your ONEDNN_MAX_CPU_ISA)" : "")}";

    public static ConvRung? Parse(string? name) => name switch
    {
        "full" => Full,
        "off" => Off,
        "AVX2" or "AVX" or "SSE41" or "AVX512_CORE" => new ConvRung(name, true),
        _ => null,
    };

    /// <summary>The rungs below this one, fastest first, ending with oneDNN off.</summary>
    public IEnumerable<ConvRung> Below()
    {
        if (!OneDnn) yield break;
        int from = Cap is null ? 0 : Array.IndexOf(Caps, Cap) + 1;
        if (Cap is not null && from == 0) from = Caps.Length; // a cap we do not rank (the user's): straight to off
        foreach (var c in Caps.Skip(from)) yield return new ConvRung(c, true);
        yield return Off;
    }
}

/// <summary>What checking a rung in a child process found.</summary>
/// <param name="Passed">every class computed within tolerance</param>
/// <param name="Detail">for a failure: which class and how (wrong numbers, a signal, a hang)</param>
/// <param name="Results">the classes checked before the end (all of them when the child finished)</param>
public sealed record ConvRungOutcome(ConvRung Rung, bool Passed, string Detail, IReadOnlyList<ConvShapeResult> Results)
{
    public double WorstError => Results.Count == 0 ? 0 : Results.Max(r => r.RelativeError);
}

/// <summary>
/// Runs <see cref="ConvolutionCheck"/> for one rung in a child process (<c>avbert __conv-probe</c>), so that a candidate
/// convolution path that crashes (SIGFPE inside oneDNN), hangs or is killed takes down the child, never the command: the
/// child reports each class as it goes, and a death is recorded as a failure of that rung, naming the signal and the class
/// being checked. The child starts with the rung's ISA cap in its environment (oneDNN reads it once, when it first runs).
/// </summary>
public static class ConvolutionProbe
{
    /// <summary>The hidden CLI command the child runs.</summary>
    public const string Command = "__conv-probe";

    /// <summary>Set in the child's environment: run oneDNN off.</summary>
    const string OneDnnVariable = "AVBERT_CONV_PROBE_ONEDNN";

    /// <summary>Tests only: the child sends itself this signal before checking (a crashing candidate, simulated), or with
    /// "error" fails with an error of its own (a child that could not start).</summary>
    public const string CrashVariable = "AVBERT_CONV_PROBE_CRASH";

    /// <summary>How long a rung may take before it counts as hung (seconds; AVBERT_CONV_CHECK_TIMEOUT overrides).</summary>
    public static int TimeoutSeconds =>
        int.TryParse(Environment.GetEnvironmentVariable("AVBERT_CONV_CHECK_TIMEOUT"), out var s) && s > 0 ? s : 900;

    /// <summary>Checks <paramref name="shapes"/> on <paramref name="rung"/> in a child process (in this one when the CLI
    /// cannot be started again, <see cref="CliProcess.Host"/>: then a crash cannot be contained).</summary>
    /// <param name="environment">more variables for the child (tests: <see cref="CrashVariable"/>)</param>
    public static ConvRungOutcome Check(ConvRung rung, IReadOnlyList<ConvShape> shapes, Dictionary<string, string>? environment = null)
    {
        if (CliProcess.Host is null) return InProcess(rung, shapes);
        var shapesFile = Path.Combine(Path.GetTempPath(), $"avbert-conv-probe-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        File.WriteAllText(shapesFile, JsonSerializer.Serialize(shapes.Select(ShapeRecord.Of).ToList()));
        try
        {
            // The child is no rank of an mpirun/srun job, even when its parent is: it must not join the job.
            var psi = CliProcess.StartInfo([Command, shapesFile, TorchSharp.torch.get_num_threads().ToString()], redirect: true, leaveJob: true);
            psi.Environment["AVBERT_SUPERVISED"] = "1";                  // no crash supervisor around the child
            psi.Environment[ConvolutionGuard.ModeVariable] = "off";      // the child applies no remembered cap of its own
            if (rung.Cap is null) psi.Environment.Remove("ONEDNN_MAX_CPU_ISA");
            else psi.Environment["ONEDNN_MAX_CPU_ISA"] = rung.Cap;
            if (!rung.OneDnn) psi.Environment[OneDnnVariable] = "off";
            foreach (var (k, v) in environment ?? []) psi.Environment[k] = v;
            var outcome = Run(psi, rung, shapes);
            // A child that ended with an error of its own before checking any class (it could not start: libtorch failed to
            // load, a file could not be read) says nothing about the rung; once more before the rung counts as failed, since
            // a failed rung is remembered for the machine. A signal, a hang or wrong numbers are the rung's and count at once.
            if (outcome.Detail.StartsWith(StartFailure, StringComparison.Ordinal))
            {
                var again = Run(psi, rung, shapes);
                return again.Detail.StartsWith(StartFailure, StringComparison.Ordinal) ? again with { Detail = $"{again.Detail} (twice; first: {outcome.Detail})" } : again;
            }
            return outcome;
        }
        finally { try { File.Delete(shapesFile); } catch (IOException) { } }
    }

    /// <summary>How the detail of a child that failed before checking any class starts.</summary>
    const string StartFailure = "the check could not start";

    static ConvRungOutcome Run(ProcessStartInfo psi, ConvRung rung, IReadOnlyList<ConvShape> shapes)
    {
        var results = new List<ConvShapeResult>();
        int current = -1;
        var errors = new List<string>();
        using var child = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {psi.FileName}");
        child.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } l) lock (errors) errors.Add(l); };
        child.BeginErrorReadLine();
        var reader = Task.Run(() =>
        {
            while (child.StandardOutput.ReadLine() is { } line)
            {
                var parts = line.Split('\t');
                if (parts is ["checking", var i] && int.TryParse(i, out var n)) Volatile.Write(ref current, n);
                else if (parts is ["result", var j, var worst, var err] && int.TryParse(j, out var k) && k < shapes.Count)
                    lock (results) results.Add(new ConvShapeResult(shapes[k], worst, double.Parse(err, System.Globalization.CultureInfo.InvariantCulture)));
            }
        });
        bool finished = child.WaitForExit(TimeoutSeconds * 1000);
        if (!finished)
        {
            try { child.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            child.WaitForExit();
        }
        reader.Wait(TimeSpan.FromSeconds(5));
        child.WaitForExit(); // flushes the stderr reader
        string At() => current >= 0 && current < shapes.Count ? $" while checking {shapes[current].Key}" : "";
        List<ConvShapeResult> done;
        lock (results) done = results.ToList();
        if (!finished) return new(rung, false, $"hung{At()} (killed after {TimeoutSeconds} s)", done);
        int code = child.ExitCode;
        if (code > 128 && NativeSignals.Name(code - 128) is { } signal) return new(rung, false, $"{signal}{At()}", done);
        if (code != 0)
        {
            string why;
            lock (errors) why = errors.LastOrDefault() ?? $"exit code {code}";
            return new(rung, false, current < 0 ? $"{StartFailure}: {why}" : $"the check failed{At()}: {why}", done);
        }
        if (done.Count < shapes.Count) return new(rung, false, $"the check ended early{At()}", done);
        var result = new ConvCheckResult(done);
        return new(rung, result.Passed, result.Passed ? "" : result.DescribeFailures(), done);
    }

    /// <summary>Where no CLI can be started: the check in this process, on whatever path it has now.</summary>
    static ConvRungOutcome InProcess(ConvRung rung, IReadOnlyList<ConvShape> shapes)
    {
        var r = ConvolutionCheck.Run(shapes);
        return new(rung, r.Passed, r.Passed ? "" : r.DescribeFailures(), r.Shapes);
    }

    /// <summary>The child: <c>avbert __conv-probe SHAPES.json THREADS</c>. Prints "checking i" before and "result i worst
    /// error" after each class, so that the parent knows which class a crash hit. Returns the exit code.</summary>
    public static int RunChild(string shapesFile, int threads, TextWriter output)
    {
        if (threads > 0) TorchSharp.torch.set_num_threads(threads);
        if (Environment.GetEnvironmentVariable(OneDnnVariable) == "off") LibTorchContext.OneDnnEnabled = false;
        var crash = Environment.GetEnvironmentVariable(CrashVariable);
        if (int.TryParse(crash, out var signal) && signal > 0) NativeSignals.Raise(signal);
        if (crash == "error") throw new InvalidOperationException("the child failed before checking anything (simulated)");
        var shapes = JsonSerializer.Deserialize<List<ShapeRecord>>(File.ReadAllText(shapesFile))!.Select(s => s.ToShape()).ToList();
        for (int i = 0; i < shapes.Count; i++)
        {
            output.WriteLine($"checking\t{i}");
            output.Flush();
            var r = ConvolutionCheck.CheckOne(shapes[i]);
            output.WriteLine($"result\t{i}\t{r.Worst}\t{r.RelativeError.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
            output.Flush();
        }
        return 0;
    }

    /// <summary>A shape class as JSON (the record's own shape with its init-only input size).</summary>
    sealed record ShapeRecord(int InChannels, int OutChannels, long[] Kernel, long[] Stride, long[] Padding, long[] Dilation, long Groups, long[]? Input)
    {
        public static ShapeRecord Of(ConvShape s) => new(s.InChannels, s.OutChannels, s.Kernel, s.Stride, s.Padding, s.Dilation, s.Groups, s.Input);
        public ConvShape ToShape() => new(InChannels, OutChannels, Kernel, Stride, Padding, Dilation, Groups) { Input = Input };
    }
}
