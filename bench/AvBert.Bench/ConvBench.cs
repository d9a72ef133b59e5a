using System.Diagnostics;
using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Bench;

/// <summary>
/// CPU convolutions (docs/cpu-correctness.md).
///   conv check [--threads N]: the known-answer check (float32 vs float64) over probe shapes (the classes of issue 9:
///     channels above 16 and not a multiple of 16 or 8, kernel &gt; 1, batch 2) and the small, full and width-6/10/12
///     models' classes, with oneDNN on, then off. Run it under ONEDNN_MAX_CPU_ISA=… and ONEDNN_VERBOSE=1 to see more.
///   conv speed [--steps N] [--threads N] [--rounds N]: the small preset's forward+backward step time with oneDNN (the default),
///     with ATen's convolutions (oneDNN off), and with oneDNN capped at AVX2 and at SSE4.1, each in a fresh child process
///     (the cap is read when oneDNN starts), and the ratios to the default.
/// </summary>
public static class ConvBench
{
    public static int Run(string[] args)
    {
        if (ModelBench.Value(args, "--threads") is string threads) set_num_threads(int.Parse(threads));
        return args.FirstOrDefault() switch
        {
            "check" => Check(),
            "speed" => Speed(args),
            "step" => Step(args),
            _ => Usage(),
        };
    }

    static int Usage()
    {
        Console.Error.WriteLine("usage: conv check|speed [--steps N] [--threads N]");
        return 2;
    }

    static ConvShape S(int cin, int cout, long[] k, long[]? stride = null, long[]? pad = null) =>
        new(cin, cout, k, stride ?? k.Select(_ => 1L).ToArray(), pad ?? k.Select(x => x / 2).ToArray(), k.Select(_ => 1L).ToArray(), 1);

    static IEnumerable<ConvShape> ProbeShapes()
    {
        foreach (int c in new[] { 8, 16, 17, 20, 24, 32, 40, 48, 64 })
        {
            yield return S(c, c, [3, 3]);
            yield return S(c, c, [3, 3], [2, 2]);
            yield return S(c, c, [1, 3, 3]);
            yield return S(c, c, [3, 1, 1]);
            yield return S(c, c, [3, 3, 3]);
            yield return S(c, 4 * c, [1, 1]);
            yield return S(c, 4 * c, [1, 1, 1]);
            yield return S(3, c, [5, 7, 7], [2, 2, 2]);
            yield return S(1, c, [9, 1]);
        }
    }

    static int Check()
    {
        var sets = new List<(string Name, IReadOnlyList<ConvShape> Shapes)> { ("probe", ProbeShapes().DistinctBy(s => s.Key).ToList()) };
        var smallConfig = ConfigLoader.Load("small");
        var small = smallConfig.Model;
        sets.Add(("small preset", ConvolutionShapes.For(small, smallConfig.Data)));
        sets.Add(("full preset", ConvolutionShapes.For(new ModelConfig(), new DataConfig())));
        foreach (int w in new[] { 6, 10, 12 })
            sets.Add(($"small, width {w}", ConvolutionShapes.For(small with
            {
                Visual = small.Visual with { WidthPerGroup = w },
                Audio = small.Audio with { WidthPerGroup = w },
            }, smallConfig.Data)));
        Console.WriteLine($"ONEDNN_MAX_CPU_ISA={Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") ?? "(unset)"}, torch threads {get_num_threads()}, tolerance {ConvolutionCheck.Tolerance}");
        int failures = 0;
        foreach (bool oneDnn in new[] { true, false })
        {
            LibTorchContext.OneDnnEnabled = oneDnn;
            Console.WriteLine($"== oneDNN {(oneDnn ? "on (default)" : "off (ATen's convolutions)")}");
            foreach (var (name, shapes) in sets)
            {
                var sw = Stopwatch.StartNew();
                var timed = shapes.Select(c => { var t = Stopwatch.StartNew(); var x = ConvolutionCheck.CheckOne(c); return (x, t.Elapsed.TotalSeconds); }).ToList();
                var r = new ConvCheckResult(timed.Select(t => t.x).ToList());
                failures += r.Failures.Count();
                Console.WriteLine($"{name}: {shapes.Count} classes, {(r.Passed ? "all pass" : $"{r.Failures.Count()} FAIL")}, worst {r.WorstError:0.##e+0}, {sw.Elapsed.TotalSeconds:F2} s " +
                                  $"(slowest: {string.Join(", ", timed.OrderByDescending(t => t.Item2).Take(2).Select(t => $"{t.x.Shape.Key} {t.Item2:F2} s"))})");
                foreach (var f in r.Failures) Console.WriteLine($"  FAIL {f.Describe()}");
            }
        }
        LibTorchContext.OneDnnEnabled = true;
        return failures == 0 ? 0 : 1;
    }

    sealed record Variant(string Name, bool OneDnn, string? Isa);

    static readonly Variant[] Variants =
    [
        new("oneDNN (default)", true, null),
        new("ATen's convolutions (oneDNN off)", false, null),
        new("oneDNN, ONEDNN_MAX_CPU_ISA=AVX2", true, "AVX2"),
        new("oneDNN, ONEDNN_MAX_CPU_ISA=SSE41", true, "SSE41"),
    ];

    static int Speed(string[] args)
    {
        string steps = ModelBench.Value(args, "--steps") ?? "5", threads = ModelBench.Value(args, "--threads") ?? "1";
        int rounds = int.Parse(ModelBench.Value(args, "--rounds") ?? "3");
        Console.WriteLine($"small preset, B×T 2×4, forward+backward, median of {steps} steps after 1 warm-up, {threads} thread(s); " +
                          $"one child process per variant and round, {rounds} rounds interleaved, median over rounds");
        var results = Variants.ToDictionary(v => v, _ => new List<(double Wall, double Cpu)>());
        for (int r = 0; r < rounds; r++)
            foreach (var v in Variants)
                results[v].Add(RunChild(["conv", "step", "--steps", steps, "--threads", threads, "--onednn", v.OneDnn ? "on" : "off"], v.Isa));
        static double Median(IEnumerable<double> xs) { var l = xs.Order().ToList(); return l[l.Count / 2]; }
        double wall0 = Median(results[Variants[0]].Select(x => x.Wall)), cpu0 = Median(results[Variants[0]].Select(x => x.Cpu));
        Console.WriteLine($"{"convolutions",-36} {"wall s/step",12} {"ratio",6} {"CPU s/step",11} {"ratio",6}");
        foreach (var v in Variants)
        {
            double wall = Median(results[v].Select(x => x.Wall)), cpu = Median(results[v].Select(x => x.Cpu));
            Console.WriteLine($"{v.Name,-36} {wall,12:F3} {wall / wall0,5:F2}× {cpu,11:F3} {cpu / cpu0,5:F2}×");
        }
        return 0;
    }

    /// <summary>Child: one measurement, printed as the last line (wall and CPU seconds per step).</summary>
    static int Step(string[] args)
    {
        LibTorchContext.OneDnnEnabled = ModelBench.Value(args, "--onednn") != "off";
        var small = ConfigLoader.Load("small");
        var (seconds, _, cpu) = ModelBench.MedianStepSeconds(small, 2, small.Data.SequenceLength, CPU, int.Parse(ModelBench.Value(args, "--steps") ?? "5"));
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{seconds:R} {cpu:R}"));
        return 0;
    }

    static (double Wall, double Cpu) RunChild(string[] args, string? isa)
    {
        var self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(ConvBench).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (isa is not null) psi.Environment["ONEDNN_MAX_CPU_ISA"] = isa;
        psi.Environment["AVBERT_CONV_CHECK"] = "off"; // measure the variant as set, whatever the self-check would choose
        using var p = Process.Start(psi)!;
        var lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        p.WaitForExit();
        if (p.ExitCode != 0 || lines.Length == 0) throw new InvalidOperationException($"child {string.Join(' ', args)} failed ({p.ExitCode})");
        var parts = lines[^1].Split(' ');
        return (double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
