using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AvBert.Config;
using AvBert.Data;
using AvBert.Data.Prepared;
using AvBert.RealMedia;
using AvBert.Runtime;
using AvBert.Storage;
using AvBert.Synthetic;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>
/// The one place a job opens its <c>--data</c> (and <c>--test-data</c>) spec: the built-in generated data
/// (<c>toy-av</c>, <c>toy-av:N</c>), the real-media set built from Debian packages (<c>real</c>, <c>real:KEY=VALUE,...</c>:
/// written once to a cache folder, read like <c>classes:DIR</c>; pretraining reads its train split, unlabeled) or any file
/// source of <see cref="SourceLoader"/>.
/// <list type="bullet">
/// <item>Pretraining (<see cref="OpenClips"/>): toy-av renders N new videos per epoch in memory (no files, no FFmpeg).</item>
/// <item>Labeled jobs (<see cref="Open"/>, <see cref="OpenLabeled"/>: finetune, eval): toy-av:N is N training and N/2 test
/// videos of the fixed toy-av seed, written once as MP4 files (FFmpeg) to a cache folder and read like <c>classes:DIR</c>,
/// so the task's clip sampling, augmentation and test views are those of real videos.</item>
/// </list>
/// </summary>
public static class DataSpec
{
    /// <summary>Training videos of a labeled <c>toy-av</c> without a count (and half as many test videos).</summary>
    public const int DefaultLabeledVideos = 160;

    /// <summary>Unlabeled clips for pretraining.</summary>
    public static IClipDataset OpenClips(string spec, AvBertConfig config, SkippedLog? skipped = null) =>
        (IClipDataset?)ToyAvClipDataset.FromSpec(spec, config)
        ?? PretrainRun.Dataset(SourceLoader.Open(RealMediaFolder(spec) is { } real ? $"classes:{real}" : spec, "train", skipped), config.Data,
                               config.Model.Modalities);

    /// <summary>The items of <paramref name="split"/> ("train", "test", "all", ...) as <see cref="SourceLoader.Open"/> gives them.</summary>
    public static MediaSource Open(string spec, string split, DataConfig data, SkippedLog? skipped = null, TextWriter? log = null) =>
        BuiltFolder(spec, data, log) is { } dir ? SourceLoader.Open($"classes:{dir}", split, skipped, log) : SourceLoader.Open(spec, split, skipped, log);

    /// <summary>
    /// Every item of the source ("all") with <see cref="MediaItem.Split"/> set to "train" or "test" where the source's own
    /// train and test splits tell them apart (an item listed in both, as a folder per class without train/ and test/
    /// subfolders lists its videos, or in neither gets none) — what `extract` records and `probe` evaluates on. With
    /// <paramref name="labeled"/>, a bare folder of class folders reads as <c>classes:DIR</c> (<see cref="OpenLabeled"/>).
    /// </summary>
    public static MediaSource OpenWithSplits(string spec, DataConfig data, bool labeled, SkippedLog? skipped = null, TextWriter? log = null)
    {
        var all = labeled ? OpenLabeled(spec, "all", data, skipped, log) : Open(spec, "all", data, skipped, log);
        HashSet<(string, double?, double?)> Keys(string split)
        {
            try { return (labeled ? OpenLabeled(spec, split, data, null, TextWriter.Null) : Open(spec, split, data, null, TextWriter.Null)).Items.Select(i => (i.Path, i.Start, i.End)).ToHashSet(); }
            catch (UserError) { return []; }
        }
        var train = Keys("train");
        var test = Keys("test");
        return all with
        {
            Items = all.Items.Select(i => (train.Contains((i.Path, i.Start, i.End)), test.Contains((i.Path, i.Start, i.End))) switch
            {
                (true, false) => i with { Split = "train" },
                (false, true) => i with { Split = "test" },
                _ => i,
            }).ToList(),
        };
    }

    /// <summary>The items of <paramref name="split"/> of a source that must have labels (see <see cref="SourceLoader.OpenLabeled"/>).</summary>
    public static MediaSource OpenLabeled(string spec, string split, DataConfig data, SkippedLog? skipped = null, TextWriter? log = null) =>
        BuiltFolder(spec, data, log) is { } dir ? SourceLoader.Open($"classes:{dir}", split, skipped, log) : SourceLoader.OpenLabeled(spec, split, skipped, log);

    /// <summary>The file-source spec <paramref name="spec"/> reads: <c>classes:DIR</c> for a built-in set (toy-av:N, real; built
    /// on first use), any other spec as given — what `prep` prepares.</summary>
    public static string FileSpec(string spec, DataConfig data, TextWriter? log = null) => BuiltFolder(spec, data, log) is { } dir ? $"classes:{dir}" : spec;

    /// <summary>
    /// A prepared set of <paramref name="spec"/> (every split, as `prep` makes it for <paramref name="data"/>) in the user cache
    /// (~/.cache/avbert/prepared/), made on first use and completed or refreshed by prep's own rules on later ones (a changed
    /// source is prepared again); returns <c>prepared:DIR</c>. A spec that already names a prepared set is returned as it is. One
    /// process prepares a folder at a time (a lock file beside it); another waits for it. <paramref name="progress"/> gets
    /// prep's progress.
    /// </summary>
    public static string Prepared(string spec, DataConfig data, int workers, TextWriter log, Action<PrepProgress>? progress = null,
                                  CancellationToken ct = default)
    {
        var fileSpec = FileSpec(spec, data, log);
        if (PreparedSource.IsSpec(fileSpec)) return fileSpec;
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(SourceLoader.Absolute(fileSpec) + "/" + JsonSerializer.Serialize(PreparedSettings.For(data)))))[..16].ToLowerInvariant();
        var root = UserCache.Directory("prepared") ?? Path.Combine(Path.GetTempPath(), "avbert-prepared");
        Directory.CreateDirectory(root);
        var dir = Path.Combine(root, key);
        using (var gate = FileGate.Acquire(dir + ".lock", $"another job is preparing {spec} in {dir}", log, ct))
        {
            var summary = PrepRun.Run(new PrepOptions { Data = fileSpec, Out = dir, DataConfig = data, Workers = workers, Log = log, OnProgress = progress }, ct);
            if (summary.Prepared > 0 || summary.Skipped > 0)
                log.WriteLine($"{spec}: prepared {summary.Prepared} videos in {summary.Seconds:0} s ({summary.AlreadyPrepared} already there, {summary.Skipped} skipped) into {dir}");
        }
        return PreparedSource.Spec(dir);
    }

    /// <summary>The folder of a built-in data set (toy-av, real) written on first use; null for a file source.</summary>
    static string? BuiltFolder(string spec, DataConfig data, TextWriter? log) => ToyAvFolder(spec, data, log) ?? RealMediaFolder(spec, log);

    /// <summary>For a <c>real</c> spec, the folder of the real-media set (built on first use, see <see cref="RealMediaSet"/>); null otherwise.</summary>
    static string? RealMediaFolder(string spec, TextWriter? log = null) =>
        RealMediaSet.IsSpec(spec, out var options) ? RealMediaSet.Folder(options, log) : null;

    /// <summary>
    /// For a toy-av spec, the folder holding its videos (DIR/{train,test}/CLASS/*.mp4), written on first use; null for a
    /// file source. The folder is keyed by the count, the data config and the toy-av settings the videos are rendered with, and appears whole
    /// (written beside it, then renamed), so concurrent jobs share it safely.
    /// </summary>
    static string? ToyAvFolder(string spec, DataConfig data, TextWriter? log)
    {
        if (!ToyAvClipDataset.IsSpec(spec, out var count)) return null;
        int train = count ?? DefaultLabeledVideos, test = Math.Max(1, train / 2);
        var toy = new ToyAvOptions();
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{train}/{test}/" + JsonSerializer.Serialize(data) + "/" +
                                                                           JsonSerializer.Serialize(toy))))[..16].ToLowerInvariant();
        var dir = Path.Combine(UserCache.Directory("toy-av") ?? Path.Combine(Path.GetTempPath(), "avbert-toy-av"), $"{train}-{key}");
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        if (Directory.Exists(dir)) return dir;
        var partial = $"{dir}.partial-{Environment.ProcessId}";
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        (log ?? Console.Out).WriteLine($"{spec}: writing {train} training and {test} test videos (once, with FFmpeg) to {dir}");
        new ToyAvWriter(new ToyAv(toy, data), data.TargetFps)
            .Write(partial, new ToyAvWriteOptions { TrainVideos = train, TestVideos = test });
        try { Directory.Move(partial, dir); }
        catch (IOException) when (Directory.Exists(dir)) { Directory.Delete(partial, recursive: true); } // another job was first
        return dir;
    }
}
