using System.Diagnostics;
using AvBert.Data;
using AvBert.Storage;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>
/// `avbert bench probe`: random features with class structure, written as an `extract` folder would be (one .safetensors
/// per video, index.tsv with labels), at the paper's sizes by default (10 clips, visual CNN 2048, audio CNN 1024,
/// Transformers 768, mid fusion).
/// </summary>
public sealed record ProbeBenchmarkOptions
{
    public int Videos { get; init; } = 1000;
    public int Classes { get; init; } = 10;
    public int Clips { get; init; } = 10;
    public int VisualDim { get; init; } = 2048;
    public int AudioDim { get; init; } = 1024;
    public int Hidden { get; init; } = 768;
    /// <summary>Scale of each class's mean against the unit noise of every clip feature.</summary>
    public double ClassSeparation { get; init; } = 0.15;
    public int Seed { get; init; }
    /// <summary>Where the features go (default: a temporary folder, deleted afterwards with what the probe wrote there).</summary>
    public string? Dir { get; init; }
}

/// <summary>The probe's summary on the generated features, and how long writing them took (not part of the probe's time).</summary>
public sealed record ProbeBenchmarkResult(ProbeSummary Summary, double WriteSeconds, string Dir);

public static class ProbeBenchmark
{
    public static ProbeBenchmarkResult Run(ProbeBenchmarkOptions b, ProbeOptions probe, CancellationToken ct = default)
    {
        if (b.Videos < 2 * b.Classes || b.Classes < 2)
            throw new Runtime.UserError($"bench probe: --videos {b.Videos} --classes {b.Classes}: need at least 2 classes and 2 videos per class.");
        var dir = b.Dir ?? Path.Combine(Path.GetTempPath(), $"avbert-bench-probe-{Environment.ProcessId}");
        bool temporary = b.Dir is null;
        if (temporary && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        try
        {
            var clock = Stopwatch.StartNew();
            Write(b, dir, ct);
            double writeSeconds = clock.Elapsed.TotalSeconds;
            var summary = ProbeRun.Run(probe with { Features = dir, OutDir = probe.OutDir ?? dir }, ct);
            return new ProbeBenchmarkResult(summary, writeSeconds, dir);
        }
        finally
        {
            if (temporary) Directory.Delete(dir, recursive: true);   // probe.json and probe.png stay only under probe.OutDir
        }
    }

    static void Write(ProbeBenchmarkOptions b, string dir, CancellationToken ct)
    {
        var gen = new Generator((ulong)b.Seed);
        int t = b.Clips, d = b.Hidden;
        var shapes = new (string Name, long[] Shape)[]
        {
            ("visual_pooled", [t, b.VisualDim]), ("audio_pooled", [t, b.AudioDim]), ("visual_embeddings", [t, d]), ("audio_embeddings", [t, d]),
            ("visual_transformer", [t + 1, d]), ("audio_transformer", [t + 1, d]), ("multimodal_transformer", [2 * (t + 1), d]),
        };
        var centres = shapes.ToDictionary(s => s.Name, s => randn([b.Classes, s.Shape[^1]], generator: gen) * b.ClassSeparation);
        var classNames = Enumerable.Range(0, b.Classes).Select(c => $"class{c:D2}").ToList();
        var items = new List<MediaItem>();
        var files = new List<ExportedFile>();
        for (int i = 0; i < b.Videos; i++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            int c = i % b.Classes;
            var sample = shapes.ToDictionary(s => s.Name, s => randn(s.Shape, generator: gen) + centres[s.Name][c]);
            var path = Path.Combine(dir, classNames[c], $"video{i:D5}.safetensors");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            SafetensorsFile.Write(path, sample);
            var source = Path.Combine("generated", classNames[c], $"video{i:D5}.mp4");
            items.Add(new MediaItem(source, [c]));
            files.Add(new ExportedFile(source, path, sample.Keys.ToList()));
        }
        foreach (var c in centres.Values) c.Dispose();
        FeatureExport.WriteIndex(Path.Combine(dir, FeatureExport.IndexFile), files, new MediaSource("bench", items, classNames, false));
    }
}
