using System.Runtime.CompilerServices;
using AvBert.Config;
using AvBert.Media;
using AvBert.Data.Sources;

namespace AvBert.Data.Prepared;

/// <summary>
/// A prepared item as the loader reads it: the prepared files and the source's streams, in prepared time (0 = the start of
/// the item's usable range in the source, <see cref="PreparedEntry.RangeStart"/>). Its clips are read by
/// <see cref="PreparedClipReader"/>.
/// </summary>
public sealed record PreparedMedia(string Directory, PreparedEntry Entry, PreparedSettings Settings) : IPreparedItem
{
    public string? VideoPath => Entry.VideoFile is { } f ? Path.Combine(Directory, f) : null;
    public string? AudioPath => Entry.AudioFile is { } f ? Path.Combine(Directory, f) : null;

    /// <summary>The stored size of a video kept as raw frames (<see cref="FrameFile"/>), or null when it is H.264 (or absent).</summary>
    public (int Width, int Height)? RawFrameSize =>
        VideoPath is { } p && FrameFile.Is(p) && Entry.Video is { } v ? Settings.RawSize(v.Width, v.Height) : null;

    /// <summary>What a probe of the source's usable range would say (sizes of the source, so views and crops match).</summary>
    public MediaInfo Info => new(Entry.Source, Entry.Duration,
        Entry.Video is { } v ? new VideoStreamInfo(v.Width, v.Height, v.Fps, v.DurationSeconds, v.Codec) : null,
        Entry.Audio is { } a ? new AudioStreamInfo(a.SampleRate, a.Channels, a.DurationSeconds, a.Codec) : null);

    /// <summary>The prepared waveform: exactly the samples the loader decodes from the source's range. A missing or damaged
    /// file is a <see cref="MediaError"/>, so the item is skipped with a message (and listed), never a crash.</summary>
    public float[] ReadWaveform()
    {
        var path = AudioPath ?? throw new MediaError(Entry.Source, "no audio stream");
        try { return WaveformFile.Read(path, Entry.Audio!.Samples); }
        catch (Exception e) when (PreparedIndex.IsDamage(e)) { throw PreparedIndex.Damaged(Entry.Source, path, e); }
    }

    /// <summary>Windows of <paramref name="count"/> samples at <paramref name="starts"/> ([starts.Length, count] row-major,
    /// zero past the end).</summary>
    public float[] ReadWindows(IReadOnlyList<long> starts, int count) => Features.ClipSampling.CutWindows(ReadWaveform(), starts, count);

    public bool HasVideo => VideoPath is not null;

    public void CheckFits(DataConfig data)
    {
        if (Settings.Mismatch(data) is not { } why) return;
        var spec = PreparedIndex.IsPrepared(Directory) ? PreparedSource.Quote(PreparedIndex.ReadHeader(Directory).SourceSpec) : "SRC";
        throw new PreparedError($"prepared set {Directory} does not fit this config: {why}; prepare one for this config with " +
                                $"./avbert prep --data {spec} --out NEW_DIR (with the same --preset/--config/--set as training)");
    }

    public ClipData Read(ClipReader reader, ClipRequest request, Random? visualRng, Random? audioRng, CancellationToken ct,
                         Func<VideoDecoder.FrameSpan, byte[]?>? decoded = null) =>
        PreparedClipReader.Read(reader, this, request, visualRng, audioRng, ct, decoded);

    public VideoDecoder.FrameSpan? VisualSpan(ClipReader reader, ClipRequest request, Random? visualRng) =>
        PreparedClipReader.VisualSpan(reader, this, request, visualRng);
}

/// <summary>
/// <c>prepared:DIR</c> (the old name <c>cache:DIR</c> still works; or a bare DIR holding <see cref="PreparedIndex.HeaderFile"/>):
/// the items of a prepared set made by <c>avbert prep</c>, with the labels, splits and segments of its source; their
/// <see cref="MediaItem.Prepared"/> makes the loader read the prepared files instead of the source (no probe, audio without
/// FFmpeg). The kind is added to <see cref="SourceLoader"/> when the assembly loads (the sources know nothing of it).
/// </summary>
public static class PreparedSource
{
    /// <summary>The spec kind of a prepared set.</summary>
    public const string Kind = "prepared";

#pragma warning disable CA2255 // the one way for a kind above the sources to be known to SourceLoader wherever it is used
    [ModuleInitializer]
    internal static void Register() => SourceLoader.AddKind(Kind, Open, PreparedIndex.IsPrepared);
#pragma warning restore CA2255

    /// <summary>Whether <paramref name="spec"/> names a prepared set (prepared:DIR or cache:DIR, or a bare DIR holding its index).</summary>
    public static bool IsSpec(string spec)
    {
        var s = Sources.SourceSpec.Parse(spec);
        return s.Kind == Kind || s.Kind is null && System.IO.Directory.Exists(s.Path) && PreparedIndex.IsPrepared(s.Path);
    }

    /// <summary>The spec that reads prepared set <paramref name="dir"/>.</summary>
    public static string Spec(string dir) => $"{Kind}:{dir}";

    public static MediaSource Open(string dir, string split)
    {
        dir = Path.GetFullPath(dir);
        var header = PreparedIndex.ReadHeader(dir);
        var entries = PreparedIndex.ReadEntries(dir).Values.OrderBy(e => e.Order).ThenBy(e => e.Source, StringComparer.Ordinal).ToList();
        if (entries.Count == 0) throw new PreparedError($"prepared set {dir} holds no prepared items: run ./avbert prep --data {Quote(header.SourceSpec)} --out {dir}");
        var changed = entries.Where(e => e.SourceChanged()).ToList();
        if (changed.Count > 0)
            throw new PreparedError($"prepared set {dir}: {changed.Count} source file(s) changed since they were prepared (first: {changed[0].Source}); " +
                                    $"update the set with ./avbert prep --data {Quote(header.SourceSpec)} --out {dir}");
        var chosen = split == "all" ? entries : entries.Where(e => e.Splits.Contains(split)).ToList();
        if (chosen.Count == 0)
            throw new PreparedError($"prepared set {dir} has no '{split}' items (it has: {string.Join(", ", entries.SelectMany(e => e.Splits).Distinct().Order())})");
        var items = chosen.Select(e => new MediaItem(e.Source, e.Labels, e.Start, e.End, e.Fold)
        {
            Spans = e.Spans,
            Prepared = new PreparedMedia(dir, e, header.Settings),
        }).ToList();
        return new MediaSource($"prepared set {dir} of {header.SourceName} ({split})", items, header.ClassNames, header.MultiLabel) { AudioOnly = header.AudioOnly };
    }

    internal static string Quote(string s) => s.Contains(' ') ? $"\"{s}\"" : s;
}
