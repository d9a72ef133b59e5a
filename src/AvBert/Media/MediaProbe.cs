using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AvBert.Media;

/// <summary>Streams, duration and frame rate of a media file, read with ffprobe.</summary>
public static class MediaProbe
{
    const string Entries =
        "format=duration,format_name" +
        ":stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,duration,sample_rate,channels" +
        ":stream_disposition=attached_pic:stream_side_data=rotation:stream_tags=rotate,DURATION";

    /// <summary>Probes <paramref name="path"/>. Throws <see cref="MediaError"/> when the file is missing, empty, unreadable,
    /// not media, has neither audio nor video, or has no known duration.</summary>
    /// <remarks>Results are cached in memory by full path, size and modification time, so later epochs do not start
    /// ffprobe again (about as costly as decoding a short clip); a changed file is probed afresh.</remarks>
    public static MediaInfo Probe(string path, CancellationToken ct = default)
    {
        FfmpegErrors.CheckReadable(path);
        var file = new FileInfo(path);
        var key = (file.FullName, file.Length, file.LastWriteTimeUtc.Ticks);
        if (Cache.TryGetValue(key, out var cached)) return cached with { Path = path };
        var input = FfmpegInput(path);
        var r = FfmpegProcess.Run(MediaOptions.Ffprobe, ["-v", "error", "-of", "json", "-show_entries", Entries, input],
                                  path, MediaOptions.ProbeTimeout, ct);
        if (r.ExitCode != 0) throw FfmpegErrors.Failure(path, r.Error, input, r.ExitCode);
        var info = Parse(path, Encoding.UTF8.GetString(r.Output, 0, r.Length));
        if (Cache.Count >= MaxCached) Cache.Clear();
        Cache[key] = info;
        return info;
    }

    const int MaxCached = 1_000_000;
    static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, long, long), MediaInfo> Cache = new();

    /// <summary>How we name a file to FFmpeg: "file:" + absolute path, so names with ':' or a leading '-' are not
    /// taken for protocols or options.</summary>
    internal static string FfmpegInput(string path) => "file:" + Path.GetFullPath(path);

    internal static MediaInfo Parse(string path, string json)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new MediaError(path, $"ffprobe output unreadable ({e.Message})"); }
        using var _ = doc;
        var root = doc.RootElement;

        VideoStreamInfo? video = null;
        AudioStreamInfo? audio = null;
        double formatDuration = 0;
        string container = "";
        if (root.TryGetProperty("format", out var format))
        {
            formatDuration = Number(format, "duration");
            container = Text(format, "format_name");
        }
        if (root.TryGetProperty("streams", out var streams))
        {
            foreach (var s in streams.EnumerateArray())
            {
                var type = Text(s, "codec_type");
                if (type == "video" && video is null && !IsAttachedPicture(s))
                {
                    int w = (int)Number(s, "width"), h = (int)Number(s, "height");
                    if (w <= 0 || h <= 0) continue;
                    if (Math.Abs(Rotation(s)) % 180 == 90) (w, h) = (h, w);
                    double fps = Rate(Text(s, "avg_frame_rate"));
                    if (!(fps > 0 && fps < 1000)) fps = Rate(Text(s, "r_frame_rate"));
                    video = new VideoStreamInfo(w, h, fps > 0 && fps < 1000 ? fps : 0, StreamDuration(s), Text(s, "codec_name"));
                }
                else if (type == "audio" && audio is null)
                {
                    int sr = (int)Number(s, "sample_rate"), ch = (int)Number(s, "channels");
                    if (sr <= 0 || ch <= 0) continue;
                    audio = new AudioStreamInfo(sr, ch, StreamDuration(s), Text(s, "codec_name"));
                }
            }
        }
        if (video is null && audio is null) throw new MediaError(path, "no audio or video stream");
        double duration = formatDuration > 0 ? formatDuration : Math.Max(video?.DurationSeconds ?? 0, audio?.DurationSeconds ?? 0);
        if (!(duration > 0)) throw new MediaError(path, "duration unknown (no duration in the container or its streams)");
        if (video is not null && video.DurationSeconds <= 0) video = video with { DurationSeconds = duration };
        if (audio is not null && audio.DurationSeconds <= 0) audio = audio with { DurationSeconds = duration };
        if (video is not null && video.Fps <= 0) throw new MediaError(path, "video frame rate unknown");
        return new MediaInfo(path, duration, video, audio) { Container = container };
    }

    static bool IsAttachedPicture(JsonElement s) =>
        s.TryGetProperty("disposition", out var d) && d.TryGetProperty("attached_pic", out var a) && a.ValueKind == JsonValueKind.Number && a.GetInt32() == 1;

    static double Rotation(JsonElement s)
    {
        if (s.TryGetProperty("side_data_list", out var list))
            foreach (var sd in list.EnumerateArray())
                if (sd.TryGetProperty("rotation", out _)) return Number(sd, "rotation");
        if (s.TryGetProperty("tags", out var tags)) return Number(tags, "rotate");
        return 0;
    }

    static double StreamDuration(JsonElement s)
    {
        double d = Number(s, "duration");
        if (d > 0) return d;
        if (s.TryGetProperty("tags", out var tags) && TimeSpan.TryParse(Text(tags, "DURATION").Split('.')[0], CultureInfo.InvariantCulture, out var ts))
        {
            var text = Text(tags, "DURATION");
            int dot = text.IndexOf('.');
            double frac = dot >= 0 && double.TryParse("0" + text[dot..], NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : 0;
            return ts.TotalSeconds + frac;
        }
        return 0;
    }

    static string Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : v.GetRawText() : "";

    static double Number(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v)) return 0;
        if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
        return v.ValueKind == JsonValueKind.String && double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : 0;
    }

    /// <summary>"30000/1001" → 29.97; "0/0" → 0.</summary>
    internal static double Rate(string r)
    {
        var parts = r.Split('/');
        if (parts.Length == 2 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d != 0) return n / d;
        return double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ? x : 0;
    }
}
