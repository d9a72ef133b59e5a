using System.CommandLine;
using AvBert.Runs;

namespace AvBert.Cli.Commands;

/// <summary>`avbert bench onnx`: the model's forward in libtorch and in ONNX Runtime, side by side (docs/export.md).</summary>
public static class BenchOnnxCommand
{
    public static Command Build()
    {
        var defaults = new OnnxBenchmarkOptions();
        var config = new ConfigOptions();
        var batch = new Option<int>("--batch") { Description = "Videos per forward", DefaultValueFactory = _ => defaults.Batch };
        var clips = new Option<int>("--clips") { Description = "Clips per video", DefaultValueFactory = _ => defaults.Clips };
        var steps = new Option<int>("--steps") { Description = "Timed forwards per runtime (after one warm-up)", DefaultValueFactory = _ => defaults.Steps };
        var c = new Command("onnx", "Clips/s and peak memory of the model's eval forward in libtorch and in ONNX Runtime on this CPU (default the paper's sizes)");
        foreach (var o in new Option[] { batch, clips, steps }) c.Options.Add(o);
        config.AddTo(c);
        c.SetAction(r =>
        {
            var cfg = config.Load(r);
            var o = new OnnxBenchmarkOptions(Math.Max(1, r.GetValue(batch)), Math.Max(1, r.GetValue(clips)), Math.Max(1, r.GetValue(steps)));
            var d = cfg.Data;
            Console.WriteLine($"bench onnx: {o.Batch}×{o.Clips} clips of {d.NumFrames}×{d.TestCropSize}² video + {d.AudioFrequency}×{d.AudioTime} log-mel, eval forward, {o.Steps} timed after a warm-up");
            var result = OnnxBenchmark.Run(cfg, o, Console.WriteLine);
            Console.WriteLine($"bench onnx: {result.Parameters:N0} parameters, {result.Threads} threads each, outputs agree to {result.MaxRelativeDifference:g2} (relative)");
            Console.WriteLine($"{"runtime",-10} {"s/forward",10} {"clips/s",9} {"peak RSS",10} {"setup s",8}");
            foreach (var m in new[] { result.Libtorch, result.Onnx })
                Console.WriteLine($"{m.Runtime,-10} {m.SecondsPerForward,10:0.000} {m.ClipsPerSecond,9:0.00} {m.PeakResidentBytes / 1048576.0,6:0} MiB {m.SetupSeconds,8:0.0}");
            return 0;
        });
        return c;
    }
}
