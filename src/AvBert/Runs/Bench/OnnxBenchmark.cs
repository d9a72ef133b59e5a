using System.Diagnostics;
using AvBert.Config;
using AvBert.Export.Onnx;
using AvBert.Model;
using AvBert.Runtime;
using Google.Protobuf;
using TorchSharp;
using static TorchSharp.torch;


namespace AvBert.Runs;

/// <param name="Batch">videos per forward</param>
/// <param name="Clips">clips per video (T)</param>
/// <param name="Steps">timed forwards per runtime (after one warm-up)</param>
public sealed record OnnxBenchmarkOptions(int Batch = 1, int Clips = 2, int Steps = 3);

/// <summary>One runtime's measurement: seconds per forward (median), clips/s, and the process's peak resident memory
/// while it ran (the peak is reset before each runtime; the other runtime's weights stay resident).</summary>
public sealed record RuntimeMeasurement(string Runtime, double SecondsPerForward, double ClipsPerSecond, long PeakResidentBytes, double SetupSeconds);

/// <param name="MaxRelativeDifference">max |onnx − libtorch| / max |libtorch| over the outputs (a sanity check)</param>
public sealed record OnnxBenchmarkResult(long Parameters, int Threads, RuntimeMeasurement Libtorch, RuntimeMeasurement Onnx, double MaxRelativeDifference);

/// <summary>
/// `avbert bench onnx`: the model's eval forward (CNNs, projections, Transformers) on random clips at the config's
/// test geometry, in TorchSharp (libtorch) and in ONNX Runtime (the graph of `export --format onnx`), side by side on
/// the CPU with the same thread count: clips/s and peak memory (docs/export.md).
/// </summary>
public static class OnnxBenchmark
{
    public static OnnxBenchmarkResult Run(AvBertConfig config, OnnxBenchmarkOptions o, Action<string>? log = null)
    {
        var d = config.Data;
        if (config.Model.Modalities != Modalities.AudioVisual)
            throw new UserError("bench onnx: times the audio-visual model; model.modalities is " +
                                $"{config.Model.Modalities.ToString().ToLowerInvariant()}. Fix: leave model.modalities at audio_visual.");
        manual_seed(0);
        using var model = new AvBertModel(config.Model, d);
        model.eval();
        var visual = model.HasVisual ? randn([o.Batch, o.Clips, 3, d.NumFrames, d.TestCropSize, d.TestCropSize]) : null;
        var audio = model.HasAudio ? randn([o.Batch, o.Clips, 1, d.AudioFrequency, d.AudioTime]) : null;
        int threads = get_num_threads();
        long parameters = model.parameters().Sum(p => p.numel());

        Dictionary<string, Tensor> torchOut = [];
        var libtorch = Measure("libtorch", o, () => { }, () =>
        {
            using var _ = no_grad();
            foreach (var t in torchOut.Values) t.Dispose();
            var outputs = model.forward(visual!, audio!);
            torchOut = new Dictionary<string, Tensor> { ["visual_pooled"] = outputs.VisualPooled, ["audio_pooled"] = outputs.AudioPooled };
            if (outputs.Context.Multimodal is { } m) torchOut["multimodal_transformer"] = m;
        }, log);

        OnnxRuntimeModel? session = null;
        Dictionary<string, Tensor> onnxOut = [];
        var inputs = new Dictionary<string, Tensor>();
        if (visual is not null) inputs[OnnxExport.VisualInput] = visual;
        if (audio is not null) inputs[OnnxExport.AudioInput] = audio;
        var onnx = Measure("onnx", o, () => session = OnnxRuntimeModel.Create(OnnxExport.Build(model, config).Model.ToByteArray(), threads: threads), () =>
        {
            foreach (var t in onnxOut.Values) t.Dispose();
            onnxOut = session!.Run(inputs);
        }, log);
        session?.Dispose();

        double worst = 0;
        foreach (var (k, t) in torchOut)
            worst = Math.Max(worst, (t - onnxOut[k]).abs().max().item<float>() / Math.Max(t.abs().max().item<float>(), 1e-30));
        return new OnnxBenchmarkResult(parameters, threads, libtorch, onnx, worst);
    }

    static RuntimeMeasurement Measure(string name, OnnxBenchmarkOptions o, Action setup, Action forward, Action<string>? log)
    {
        ResetPeak();
        var clock = Stopwatch.StartNew();
        setup();
        forward();                                                   // warm-up (one-time allocations, kernel choice)
        double setupSeconds = clock.Elapsed.TotalSeconds;
        var times = new List<double>();
        for (int i = 0; i < o.Steps; i++)
        {
            clock.Restart();
            forward();
            times.Add(clock.Elapsed.TotalSeconds);
            log?.Invoke($"{name}: forward {i + 1}/{o.Steps}: {times[^1]:0.00} s");
        }
        double median = times.Order().ElementAt(times.Count / 2);
        return new RuntimeMeasurement(name, median, o.Batch * o.Clips / median, ProcessMemory.PeakResidentBytes(), setupSeconds);
    }

    /// <summary>Resets the kernel's peak-RSS counter (Linux: "5" into /proc/self/clear_refs), so each runtime's peak is its own.</summary>
    static void ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
