using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using AvBert.Config;
using AvBert.Media;
using AvBert.Storage;
using AvBert.Data.Sources;

namespace AvBert.Data.Prepared;

/// <summary>How a prepared set keeps its videos.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PreparedFrames>))]
public enum PreparedFrames
{
    /// <summary>Raw frames for items of at most <see cref="PreparedSettings.RawAutoMaxBytes"/> (short, small videos: reading
    /// them costs far less than decoding), H.264 for the rest.</summary>
    [JsonStringEnumMemberName("auto")] Auto,
    /// <summary>Every video as raw RGB frames (<see cref="FrameFile"/>): no decoding when training reads it; 3·W·H bytes a frame.</summary>
    [JsonStringEnumMemberName("raw")] Raw,
    /// <summary>Every video as H.264 (about 1/20 of the raw size; one FFmpeg run to read a sample's clips).</summary>
    [JsonStringEnumMemberName("h264")] H264,
}

/// <summary>
/// What a prepared set was made with: the video is resampled to the clip frame rate (<see cref="TargetFps"/> /
/// <see cref="SamplingRate"/>: the frames clips take) and scaled to short side <see cref="ShortSide"/> (never up), H.264 with
/// a keyframe every <see cref="KeyframeInterval"/> frames (one clip);
/// the audio is the mono waveform at <see cref="AudioSampleRate"/> exactly as the loader decodes it from the source (16-bit
/// levels, <see cref="WaveformFile"/>).
/// </summary>
public sealed record PreparedSettings
{
    /// <summary>Bumped when the layout or the transcoding changes: older prepared sets must be prepared again.</summary>
    public const int CurrentFormat = 2;
    public int Format { get; init; } = CurrentFormat;
    public int TargetFps { get; init; }
    public int SamplingRate { get; init; } = 1;
    public int ShortSide { get; init; }
    public int KeyframeInterval { get; init; }
    public int AudioSampleRate { get; init; }
    public string VideoCodec { get; init; } = "libx264";
    public int Crf { get; init; } = 23;
    /// <summary>Raw frames or H.264 (<see cref="PreparedFrames"/>); each entry's file says which it got. Any choice serves any
    /// config these settings serve.</summary>
    public PreparedFrames Frames { get; init; } = PreparedFrames.Auto;

    /// <summary><see cref="PreparedFrames.Auto"/> keeps an item's frames raw up to this size (4 MiB: e.g. 4 s at 15 fps and
    /// 80×106; a 10 s Kinetics clip at the paper's 160-pixel short side is about 15 MiB raw, so H.264).</summary>
    public const long RawAutoMaxBytes = 4L << 20;

    /// <summary>The stored size of raw frames: the size training scales a width×height source to for short side
    /// <see cref="ShortSide"/> (<see cref="Features.VisualTransform.ScaleShortSide"/>, never larger than the source's), so a
    /// view at that scale reads the very bytes the sources path decodes.</summary>
    public (int Width, int Height) RawSize(int width, int height) =>
        Features.VisualTransform.ScaleShortSide(width, height, Math.Min(ShortSide, Math.Min(width, height)));

    /// <summary>Whether an item whose frames take <paramref name="rawBytes"/> raw is kept raw (never over what one decode may
    /// hold, <see cref="MediaOptions.MaxFrameBytes"/>: such a video stays H.264 even with <see cref="PreparedFrames.Raw"/>).</summary>
    public bool KeepsRaw(long rawBytes) => rawBytes <= MediaOptions.MaxFrameBytes &&
                                           (Frames == PreparedFrames.Raw || (Frames == PreparedFrames.Auto && rawBytes <= RawAutoMaxBytes));

    /// <summary>The settings training with <paramref name="data"/> needs: short side = the largest scale it crops from
    /// (train jitter maximum or test crop), its frame rate and audio rate.</summary>
    public static PreparedSettings For(DataConfig data) => new()
    {
        TargetFps = data.TargetFps,
        SamplingRate = data.SamplingRate,
        ShortSide = Math.Max(data.TrainJitterScales.Max(), data.TestCropSize),
        KeyframeInterval = Math.Max(1, data.NumFrames),
        AudioSampleRate = data.AudioSampleRate,
    };

    /// <summary>Why a prepared set made with these settings cannot serve <paramref name="data"/>, or null when it can.</summary>
    public string? Mismatch(DataConfig data)
    {
        var inv = CultureInfo.InvariantCulture;
        if (Format != CurrentFormat) return $"prepared-set format {Format}, this version reads format {CurrentFormat}";
        if (TargetFps != data.TargetFps || SamplingRate != data.SamplingRate)
            return $"frames every {SamplingRate} at {TargetFps} fps, the config takes every {data.SamplingRate} at data.target_fps {data.TargetFps}";
        if (AudioSampleRate != data.AudioSampleRate) return $"audio at {AudioSampleRate} Hz, the config needs data.audio_sample_rate {data.AudioSampleRate}";
        int need = For(data).ShortSide;
        if (ShortSide < need) return $"video short side {ShortSide.ToString(inv)}, the config crops from up to {need.ToString(inv)}";
        return null;
    }

    /// <summary>Frames per second of the prepared video: the clips' frame rate.</summary>
    [JsonIgnore] public double ClipFps => (double)TargetFps / SamplingRate;
}

/// <summary>The source's streams as prepared: sizes as displayed, durations of the usable range (segment).</summary>
public sealed record PreparedVideo(int Width, int Height, double Fps, double DurationSeconds, string Codec);
public sealed record PreparedAudio(int SampleRate, int Channels, double DurationSeconds, string Codec, long Samples);

/// <summary>
/// One prepared item: a source file (or a segment of it, <see cref="Start"/>..<see cref="End"/>), its labels and splits,
/// what the source looked like when it was prepared (size, modification time, streams) and its prepared files, relative to
/// the prepared set's folder (null for a stream the source lacks).
/// </summary>
public sealed record PreparedEntry
{
    public string Id { get; init; } = "";
    /// <summary>Position of the item in its source (items are read back in the source's order).</summary>
    public int Order { get; init; }
    public string Source { get; init; } = "";
    public long SourceSize { get; init; }
    public long SourceMtimeTicks { get; init; }
    public double? Start { get; init; }
    public double? End { get; init; }
    public int[] Labels { get; init; } = [];
    public string[] Splits { get; init; } = [];
    public int? Fold { get; init; }
    public LabelSpan[]? Spans { get; init; }
    /// <summary>Start of the usable range in the source (seconds), and its length: prepared time 0 is source time RangeStart.</summary>
    public double RangeStart { get; init; }
    public double Duration { get; init; }
    /// <summary>True when the item has an end (a segment): the audio was decoded for exactly Duration seconds.</summary>
    public bool HasEnd { get; init; }
    public PreparedVideo? Video { get; init; }
    public PreparedAudio? Audio { get; init; }
    public string? VideoFile { get; init; }
    public string? AudioFile { get; init; }

    /// <summary>The stable id of a source item: its full path and segment.</summary>
    public static string IdOf(string path, double? start, double? end)
    {
        var inv = CultureInfo.InvariantCulture;
        var key = $"{Path.GetFullPath(path)}|{start?.ToString("R", inv)}|{end?.ToString("R", inv)}";
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..20];
    }

    /// <summary>True when the source file at <see cref="Source"/> is no longer what was prepared (missing counts as unchanged:
    /// a prepared set serves without its sources).</summary>
    public bool SourceChanged()
    {
        var f = new FileInfo(Source);
        return f.Exists && (f.Length != SourceSize || f.LastWriteTimeUtc.Ticks != SourceMtimeTicks);
    }
}

/// <summary>The prepared set's header: settings, the source it was made from, the class names.</summary>
public sealed record PreparedHeader
{
    public PreparedSettings Settings { get; init; } = new();
    public string SourceSpec { get; init; } = "";
    public string SourceName { get; init; } = "";
    public string[] ClassNames { get; init; } = [];
    public bool MultiLabel { get; init; }
    public bool AudioOnly { get; init; }
}

/// <summary>
/// A prepared set on disk: <c>avbert-cache.json</c> (the <see cref="PreparedHeader"/>; the file keeps the name it has
/// always had, so that sets prepared before still open), <c>entries.jsonl</c> (one <see cref="PreparedEntry"/> a line,
/// appended as items finish; a later line for the same id replaces an earlier one, a torn last line from an interrupted
/// prep is ignored), <c>media/</c> (the files) and <c>skipped.tsv</c>.
/// </summary>
public static class PreparedIndex
{
    public const string HeaderFile = "avbert-cache.json";
    public const string EntriesFile = "entries.jsonl";
    public const string MediaFolder = "media";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>True when <paramref name="dir"/> is a prepared set (has its header).</summary>
    public static bool IsPrepared(string dir) => File.Exists(Path.Combine(dir, HeaderFile));

    public static PreparedHeader ReadHeader(string dir)
    {
        var file = Path.Combine(dir, HeaderFile);
        if (!File.Exists(file)) throw new PreparedError($"{dir} is not a prepared set (no {HeaderFile}): make one with ./avbert prep --data SRC --out {dir}");
        try { return JsonSerializer.Deserialize<PreparedHeader>(File.ReadAllText(file), Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new PreparedError($"{file} is unreadable ({e.Message}): prepare the set again with ./avbert prep"); }
    }

    public static void WriteHeader(string dir, PreparedHeader header)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, HeaderFile), JsonSerializer.Serialize(header, new JsonSerializerOptions(Json) { WriteIndented = true }));
    }

    /// <summary>The entries by id (the last line of each id wins); unreadable lines are left out.</summary>
    public static Dictionary<string, PreparedEntry> ReadEntries(string dir)
    {
        var result = new Dictionary<string, PreparedEntry>(StringComparer.Ordinal);
        var file = Path.Combine(dir, EntriesFile);
        if (!File.Exists(file)) return result;
        foreach (var line in File.ReadLines(file))
        {
            if (line.Length == 0) continue;
            PreparedEntry? e;
            try { e = JsonSerializer.Deserialize<PreparedEntry>(line, Json); }
            catch (JsonException) { continue; }   // a torn line from an interrupted prep
            if (e is not null && e.Id.Length > 0) result[e.Id] = e;
        }
        return result;
    }

    /// <summary>One line for <paramref name="entry"/> (the caller serialises concurrent appends).</summary>
    internal static void Append(string dir, PreparedEntry entry)
    {
        var file = Path.Combine(dir, EntriesFile);
        // An append, not an AtomicFile rewrite (the log grows by one line an entry): a torn last line (killed mid-write) is
        // skipped by ReadEntries and must not swallow this one, so start on a fresh line.
        bool newline = File.Exists(file) && new FileInfo(file).Length > 0 && LastByte(file) != '\n';
        using var w = new StreamWriter(file, append: true);
        if (newline) w.WriteLine();
        w.WriteLine(JsonSerializer.Serialize(entry, Json));
    }

    /// <summary>True for the failures a missing, torn or damaged prepared file reads with.</summary>
    internal static bool IsDamage(Exception e) => e is IOException or InvalidDataException or UnauthorizedAccessException;

    /// <summary>The <see cref="MediaError"/> for a prepared file of <paramref name="source"/> that cannot be read
    /// (<see cref="IsDamage"/>): the loader skips that item with this message, and lists it.</summary>
    internal static MediaError Damaged(string source, string path, Exception e) =>
        new(source, $"prepared entry damaged: {path} ({(e is FileNotFoundException ? "missing" : e.Message)}); run ./avbert prep again to repair it");

    static int LastByte(string file)
    {
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        fs.Seek(-1, SeekOrigin.End);
        return fs.ReadByte();
    }
}

/// <summary>A prepared set that cannot serve this run (missing, other settings, sources changed since prep): says how to re-prep.</summary>
public sealed class PreparedError(string message) : Runtime.UserError(message);
