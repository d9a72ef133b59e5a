using AvBert.Data;
using AvBert.Downstream;
using AvBert.Model;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>`avbert extract`: any model (--model), the videos (files, or --data and its --split), where and how.</summary>
public sealed record ExtractOptions
{
    public required string Model { get; init; }
    public IReadOnlyList<string> Files { get; init; } = [];
    /// <summary>A data source instead of <see cref="Files"/> (its labels go to index.tsv).</summary>
    public string? Data { get; init; }
    public string Split { get; init; } = "all";
    public required string OutDir { get; init; }
    public required Device Device { get; init; }
    public int BatchSize { get; init; } = 4;
    public int Workers { get; init; }
    /// <summary>libtorch (default) or onnx: the forward pass in ONNX Runtime on the CPU (<see cref="OnnxInference"/>).</summary>
    public string? Runtime { get; init; }
}

/// <summary>The end of `avbert extract`: the files written, the tensors each holds, index.tsv, the skipped files' line (null: none).</summary>
public sealed record ExtractSummary(int Files, string OutDir, IReadOnlyList<string> Tensors, string IndexFile, string? Skipped);

/// <summary>`avbert extract`: per video, safetensors with pooled CNN features and every Transformer's outputs (<see cref="FeatureExport"/>).</summary>
public static class ExtractRun
{
    public static ExtractSummary Run(ExtractOptions o, TextWriter? log = null, CancellationToken ct = default)
    {
        log ??= Console.Out;
        var skipped = new SkippedLog(null);
        var dir = TransferModelDirectory.Resolve(o.Model);
        var runtime = OnnxInference.Parse(o.Runtime);
        var (cfg, avbert) = ModelDirectory.Load(dir, runtime == InferenceRuntime.Onnx ? CPU : o.Device);
        using var _ = avbert;
        var source = FeatureExport.Videos(o.Data, o.Split, o.Files, cfg.Data, skipped);
        var outDir = Path.GetFullPath(o.OutDir);
        log.WriteLine($"extract: {source.Items.Count} videos, {cfg.Data.SequenceLength} clips each (centre crop), model {dir}, " +
                      $"on {(runtime == InferenceRuntime.Onnx ? "ONNX Runtime" : o.Device.ToString())}");
        var exported = FeatureExport.Run(avbert, cfg, source, outDir, o.Device, Math.Max(1, o.BatchSize), o.Workers, skipped, ct: ct, runtime: runtime);
        return new ExtractSummary(exported.Count, outDir, [.. exported.FirstOrDefault()?.Tensors ?? []], Path.Combine(outDir, FeatureExport.IndexFile),
                                  skipped.Count > 0 ? skipped.Summary() : null);
    }
}
