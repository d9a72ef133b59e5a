using AvBert.RealMedia;

namespace AvBert.Runs;

/// <summary>What `data real` built: the folder, its manifest, and the data spec that reads it.</summary>
public sealed record RealMediaSummary(string Dir, RealMediaManifest Manifest, string ManifestFile, string Spec);

/// <summary>`avbert data real`: builds (once) the real-media set from Debian packages (docs/data.md). <see cref="Prepare"/>
/// checks the options; <see cref="Build"/> builds or finds the set.</summary>
public sealed class RealMediaRun
{
    /// <summary>The set's defaults (the options --data real reads).</summary>
    public static RealMediaOptions Defaults => new();

    readonly RealMediaOptions _options;

    RealMediaRun(RealMediaOptions options) => _options = options;

    public static RealMediaRun Prepare(RealMediaOptions options) => new(options.Validated());

    /// <summary>Videos in the set.</summary>
    public int Videos => _options.TotalVideos;

    /// <param name="assets">Compose from this unpacked asset folder instead of fetching the packages.</param>
    /// <param name="outDir">Write the set into this new folder instead of the cache.</param>
    /// <param name="composed">Called after each video.</param>
    public RealMediaSummary Build(TextWriter log, string? assets, string? outDir, Action composed, CancellationToken ct = default)
    {
        var dir = RealMediaSet.Folder(_options, log, assets, outDir, _ => composed(), ct);
        return new RealMediaSummary(dir, RealMediaManifest.Read(dir), Path.Combine(dir, RealMediaManifest.MarkdownFileName),
                                    outDir is null ? SpecOf(_options) : $"classes:{dir}");
    }

    /// <summary>The data spec that reads the set of <paramref name="o"/> (only the options that differ from the defaults).</summary>
    static string SpecOf(RealMediaOptions o)
    {
        var d = new RealMediaOptions();
        var parts = new List<string>();
        if (o.Pairing != d.Pairing) parts.Add($"pairing={o.Pairing.ToString().ToLowerInvariant()}");
        if (o.Seed != d.Seed) parts.Add($"seed={o.Seed}");
        if (o.TrainVideosPerClass is { } train) parts.Add($"train={train}");
        if (o.TestVideosPerClass is { } test) parts.Add($"test={test}");
        if (o.Seconds != d.Seconds) parts.Add(FormattableString.Invariant($"seconds={o.Seconds}"));
        return parts.Count == 0 ? RealMediaSet.SpecName : $"{RealMediaSet.SpecName}:{string.Join(",", parts)}";
    }
}
