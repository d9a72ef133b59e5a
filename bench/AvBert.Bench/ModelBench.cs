using System.Diagnostics;
using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Bench;

/// <summary>
/// Model throughput: forward+backward clips/s (a clip = one visual + one audio clip of a sequence; a step processes
/// B·T clips) and the process's peak resident memory, for the tiny (tiny-a) sizes, the small preset and the full model.
/// Usage: model [tiny|small|full|all] [--device cpu|cuda|auto] [--steps N] [--threads N]
/// </summary>
public static class ModelBench
{
    sealed record Case(string Name, AvBertConfig Config, int Batch, int Clips);

    public static int Run(string[] args)
    {
        TorchRuntime.Initialize();
        string which = args.FirstOrDefault(a => !a.StartsWith("--")) ?? "all";
        var device = TorchRuntime.ResolveDevice(Value(args, "--device") ?? "cpu");
        int steps = int.Parse(Value(args, "--steps") ?? "3");
        if (Value(args, "--threads") is string threads) set_num_threads(int.Parse(threads));

        var tiny = new AvBertConfig
        {
            Model = new ModelConfig
            {
                Visual = new VisualCnnConfig { WidthPerGroup = 4 },
                Audio = new AudioCnnConfig { WidthPerGroup = 4 },
                Transformer = new TransformerConfig { HiddenSize = 64, NumHeads = 4, IntermediateSize = 128, NumLayers = 3, Rank = 16 },
            },
            Data = new DataConfig { NumFrames = 8, TrainCropSize = 32, AudioFrequency = 32, AudioTime = 64, SequenceLength = 3 },
        };
        var small = ConfigLoader.Load("small");
        var full = new AvBertConfig() with { Data = new DataConfig { SequenceLength = 2 } };
        var cases = new List<Case>();
        if (which is "tiny" or "all") cases.Add(new("tiny (tiny-a sizes)", tiny, 2, 3));
        if (which is "small" or "all") cases.Add(new("small preset", small, 2, small.Data.SequenceLength));
        if (which is "full" or "all") cases.Add(new("full (ResNet-50s, D=768)", full, 1, 2));
        if (cases.Count == 0) { Console.Error.WriteLine("model bench: expected tiny, small, full or all"); return 2; }

        Console.WriteLine($"device {device}, torch threads {get_num_threads()}, {steps} timed steps after 1 warm-up");
        Console.WriteLine($"{"case",-26} {"B×T",5} {"clip",-22} {"params",12} {"fwd+bwd s/step (median)",24} {"clips/s",9} {"peak RSS MiB",13}");
        foreach (var c in cases)
        {
            ResetPeakRss();
            var d = c.Config.Data;
            var (perStep, parameters, _) = MedianStepSeconds(c.Config, c.Batch, c.Clips, device, steps);
            Console.WriteLine($"{c.Name,-26} {$"{c.Batch}×{c.Clips}",5} {$"{d.NumFrames}×{d.TrainCropSize}² + {d.AudioFrequency}×{d.AudioTime}",-22} " +
                              $"{parameters,12:N0} {perStep,24:F3} {c.Batch * c.Clips / perStep,9:F2} {PeakRssMiB(),13:F0}");
        }
        return 0;
    }

    /// <summary>Median seconds of a forward+backward step (train mode, loss on the multimodal output and x^v, x^a) after one
    /// warm-up, the parameter count, and the process CPU seconds per timed step (less disturbed by a busy machine).</summary>
    public static (double Seconds, long Parameters, double CpuSeconds) MedianStepSeconds(AvBertConfig config, int batch, int clips, Device device, int steps)
    {
        var d = config.Data;
        using var model = new AvBertModel(config.Model, d);
        model.to(device);
        model.train();
        long parameters = model.parameters().Sum(p => p.numel());
        using var visual = randn([batch, clips, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize], device: device);
        using var audio = randn([batch, clips, 1, d.AudioFrequency, d.AudioTime], device: device);
        double Step()
        {
            using var scope = NewDisposeScope();
            model.zero_grad();
            var sw = Stopwatch.StartNew();
            var o = model.forward(visual, audio);
            var loss = o.Context.Multimodal!.square().mean() + o.Xv.square().mean() + o.Xa.square().mean();
            loss.backward();
            if (device.type == DeviceType.CUDA) cuda.synchronize();
            return sw.Elapsed.TotalSeconds;
        }
        Step();                                             // warm-up (allocator, kernels)
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var times = Enumerable.Range(0, steps).Select(_ => Step()).Order().ToList();
        double cpuPerStep = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds / steps;
        return (times[times.Count / 2], parameters, cpuPerStep); // median: the machine may be shared
    }

    internal static string? Value(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Linux: resets VmHWM so that the next reading is this case's peak.</summary>
    static void ResetPeakRss()
    {
        GC.Collect();
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (Exception) { }
    }

    static double PeakRssMiB() => AvBert.Runtime.ProcessMemory.PeakResidentBytes() / 1048576.0;
}
