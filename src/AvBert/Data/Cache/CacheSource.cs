using AvBert.Media;

namespace AvBert.Data.Cache;

/// <summary>
/// A prepared item as the loader reads it: the cache files and the source's streams, in cache time (0 = the start of the
/// item's usable range in the source, <see cref="CacheEntry.RangeStart"/>).
/// </summary>
public sealed record CachedMedia(string Directory, CacheEntry Entry, CacheSettings Settings)
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
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new MediaError(Entry.Source, $"cache entry damaged: {path} ({(e is FileNotFoundException ? "missing" : e.Message)}); " +
                                               "run ./avbert prep again to repair it");
        }
    }

    /// <summary>Windows of <paramref name="count"/> samples at <paramref name="starts"/> ([starts.Length, count] row-major,
    /// zero past the end).</summary>
    public float[] ReadWindows(IReadOnlyList<long> starts, int count) => Features.ClipSampling.CutWindows(ReadWaveform(), starts, count);
}

/// <summary>
/// <c>cache:DIR</c> (or a bare DIR holding <see cref="CacheIndex.HeaderFile"/>): the items of a cache made by
/// <c>avbert prep</c>, with the labels, splits and segments of its source; their <see cref="MediaItem.Cached"/> tells the
/// loader to read the cache files instead of the source (no probe, audio without FFmpeg).
/// </summary>
public static class CacheSource
{
    public static MediaSource Open(string dir, string split)
    {
        dir = Path.GetFullPath(dir);
        var header = CacheIndex.ReadHeader(dir);
        var entries = CacheIndex.ReadEntries(dir).Values.OrderBy(e => e.Order).ThenBy(e => e.Source, StringComparer.Ordinal).ToList();
        if (entries.Count == 0) throw new CacheError($"cache {dir} holds no prepared items: run ./avbert prep --data {Quote(header.SourceSpec)} --out {dir}");
        var changed = entries.Where(e => e.SourceChanged()).ToList();
        if (changed.Count > 0)
            throw new CacheError($"cache {dir}: {changed.Count} source file(s) changed since they were prepared (first: {changed[0].Source}); " +
                                 $"update the cache with ./avbert prep --data {Quote(header.SourceSpec)} --out {dir}");
        var chosen = split == "all" ? entries : entries.Where(e => e.Splits.Contains(split)).ToList();
        if (chosen.Count == 0)
            throw new CacheError($"cache {dir} has no '{split}' items (it has: {string.Join(", ", entries.SelectMany(e => e.Splits).Distinct().Order())})");
        var items = chosen.Select(e => new MediaItem(e.Source, e.Labels, e.Start, e.End, e.Fold)
        {
            Spans = e.Spans,
            Cached = new CachedMedia(dir, e, header.Settings),
        }).ToList();
        return new MediaSource($"cache {dir} of {header.SourceName} ({split})", items, header.ClassNames, header.MultiLabel) { AudioOnly = header.AudioOnly };
    }

    /// <summary>Throws a <see cref="CacheError"/> saying how to re-prep when any cached item of <paramref name="items"/>
    /// was made with settings <paramref name="data"/> cannot use.</summary>
    public static void CheckSettings(IEnumerable<MediaItem> items, Config.DataConfig data)
    {
        var cached = items.Select(i => i.Cached).FirstOrDefault(c => c is not null);
        if (cached?.Settings.Mismatch(data) is not { } why) return;
        var spec = CacheIndex.IsCache(cached.Directory) ? Quote(CacheIndex.ReadHeader(cached.Directory).SourceSpec) : "SRC";
        throw new CacheError($"cache {cached.Directory} does not fit this config: {why}; prepare one for this config with " +
                             $"./avbert prep --data {spec} --out NEW_DIR (with the same --preset/--config/--set as training)");
    }

    static string Quote(string s) => s.Contains(' ') ? $"\"{s}\"" : s;
}
