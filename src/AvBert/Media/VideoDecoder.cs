using System.Globalization;

namespace AvBert.Media;

/// <summary>
/// Decodes a span of a video's frames with ffmpeg: seek to the start (<c>-ss</c> before <c>-i</c>: fast and, when
/// transcoding, frame-accurate), resample to the target rate with the <c>fps</c> filter, scale with FFmpeg, RGB24 out.
/// Frame k is the source frame showing at <c>start + k/fps</c> (the last one stamped at or before that time).
/// </summary>
public static class VideoDecoder
{
    /// <summary><paramref name="count"/> RGB24 frames at <paramref name="fps"/> from <paramref name="startSeconds"/>, scaled
    /// to exactly width×height: byte[count·height·width·3] (HWC). If the file ends early the last frame is repeated (use
    /// <see cref="Decode"/> to learn how many frames were real).</summary>
    public static byte[] DecodeFrames(string path, double startSeconds, int count, double fps, int width, int height,
                                      CancellationToken ct = default)
        => Decode(path, startSeconds, count, fps, width, height, ct).Rgb;

    /// <summary>As <see cref="DecodeFrames"/>, and says how many frames came from the file. Throws <see cref="MediaError"/>
    /// when the file has no video stream, no frame at or after the start, or cannot be decoded.</summary>
    public static DecodedFrames Decode(string path, double startSeconds, int count, double fps, int width, int height,
                                       CancellationToken ct = default)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "frame count must be positive");
        if (!(fps > 0)) throw new ArgumentOutOfRangeException(nameof(fps), fps, "fps must be positive");
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"{width}x{height}", "size must be positive");
        FfmpegErrors.CheckReadable(path);

        int frameBytes = FrameBytes(path, width, height, count, 1);
        var rgb = new byte[(long)frameBytes * count];
        var input = MediaProbe.FfmpegInput(path);
        var args = Arguments(input, Math.Max(0, startSeconds), count, fps, width, height);
        var r = FfmpegProcess.Run(MediaOptions.Ffmpeg, args, path, MediaOptions.DecodeTimeout, ct, output: rgb);

        int real = r.Length / frameBytes;
        if (r.ExitCode != 0 && real == 0) throw FfmpegErrors.Failure(path, r.Error, input, r.ExitCode);
        if (real == 0)
            throw new MediaError(path, $"no video frame at or after {startSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s" +
                                       (r.Error.Length > 0 ? $" ({FfmpegErrors.Reason(r.Error, input, r.ExitCode)})" : ""));
        for (int i = real; i < count; i++) // the file ended early: repeat the last real frame
            Buffer.BlockCopy(rgb, (real - 1) * frameBytes, rgb, i * frameBytes, frameBytes);
        return new DecodedFrames(rgb, count, width, height, real);
    }

    /// <summary>
    /// Several clips of one video in one ffmpeg run: <c>count</c> frames at <c>fps</c> from each start (any order), with the
    /// same frame timing as <see cref="Decode"/>. Clips close together share one seek and one decoding pass (FFmpeg splits the
    /// scaled frames into one branch per clip); clips far apart (over <see cref="MergeGapSeconds"/>) get their own seek,
    /// as separate inputs of the same process. Much faster than one <see cref="Decode"/> per clip when clips overlap or
    /// the video is short (one process, and each frame decoded once). A clip past the end repeats its last frame, or the
    /// previous clip's last frame when it has none (RealFrames 0). Throws <see cref="MediaError"/> when no clip has a frame.
    /// </summary>
    public static DecodedFrames[] DecodeClips(string path, IReadOnlyList<double> startSeconds, int count, double fps, int width, int height,
                                              CancellationToken ct = default)
    {
        if (startSeconds.Count == 0) return [];
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "frame count must be positive");
        if (!(fps > 0)) throw new ArgumentOutOfRangeException(nameof(fps), fps, "fps must be positive");
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"{width}x{height}", "size must be positive");
        if (startSeconds.Count == 1) return [Decode(path, startSeconds[0], count, fps, width, height, ct)];
        FfmpegErrors.CheckReadable(path);

        int frameBytes = FrameBytes(path, width, height, count, startSeconds.Count);
        long clipBytes = (long)frameBytes * count;
        var input = MediaProbe.FfmpegInput(path);
        var dir = Directory.CreateTempSubdirectory("avbert-clips-").FullName;
        try
        {
            var (args, outputs) = ClipsArguments(input, startSeconds, count, fps, width, height, dir);
            var r = FfmpegProcess.Run(MediaOptions.Ffmpeg, args, path, MediaOptions.DecodeTimeout, ct, sizeHint: 4096);
            var clips = new byte[startSeconds.Count][];
            var real = new int[startSeconds.Count];
            for (int i = 0; i < clips.Length; i++)
            {
                clips[i] = new byte[clipBytes];
                if (!File.Exists(outputs[i])) continue;
                using var fs = new FileStream(outputs[i], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
                int n = fs.ReadAtLeast(clips[i], clips[i].Length, throwOnEndOfStream: false);
                real[i] = n / frameBytes;
            }
            if (real.All(x => x == 0))
            {
                if (r.ExitCode != 0) throw FfmpegErrors.Failure(path, r.Error, input, r.ExitCode);
                throw new MediaError(path, $"no video frame at or after {startSeconds.Min().ToString("0.###", CultureInfo.InvariantCulture)} s" +
                                           (r.Error.Length > 0 ? $" ({FfmpegErrors.Reason(r.Error, input, r.ExitCode)})" : ""));
            }
            // Pad: repeat a clip's last frame; a clip with no frame takes the last frame of the latest clip before it in time
            // (or the first frame of the earliest clip that has one).
            var order = Enumerable.Range(0, clips.Length).OrderBy(i => startSeconds[i]).ToArray();
            byte[]? lastFrame = null;
            var result = new DecodedFrames[clips.Length];
            foreach (int i in order)
            {
                var rgb = clips[i];
                int from = real[i];
                if (from > 0) lastFrame = rgb.AsSpan((from - 1) * frameBytes, frameBytes).ToArray();
                lastFrame ??= FirstFrame(order, clips, real, frameBytes);
                for (int k = from; k < count; k++) lastFrame.CopyTo(rgb, k * frameBytes);
                result[i] = new DecodedFrames(rgb, count, width, height, real[i]);
            }
            return result;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>One span of frames to decode: as <see cref="DecodeFrames"/>'s arguments.</summary>
    public sealed record FrameSpan(string Path, double StartSeconds, int Count, double Fps, int Width, int Height);

    /// <summary>
    /// The spans of several files (or one file several times) in ONE ffmpeg run: each span is an input of its own (its own
    /// seek) with the filters of <see cref="Decode"/>, written to an output of its own — exactly the bytes
    /// <see cref="DecodeFrames"/> gives, for one process start instead of one per span (starting FFmpeg costs about as much
    /// as decoding a cached video's clips). Null for a span that did not come out whole (an unreadable file, a span running
    /// past the end): decode that one alone, which pads or reports the error. Never throws for a bad file.
    /// </summary>
    public static byte[]?[] DecodeMany(IReadOnlyList<FrameSpan> spans, CancellationToken ct = default)
    {
        var result = new byte[]?[spans.Count];
        if (spans.Count == 0) return result;
        var inv = CultureInfo.InvariantCulture;
        var dir = Directory.CreateTempSubdirectory("avbert-spans-").FullName;
        try
        {
            var args = new List<string> { "-nostdin", "-hide_banner", "-v", "error" };
            var graph = new List<string>();
            var outputs = new string[spans.Count];
            long total = 0;
            for (int i = 0; i < spans.Count; i++)
            {
                var s = spans[i];
                if (s.Count <= 0 || !(s.Fps > 0) || s.Width <= 0 || s.Height <= 0) throw new ArgumentOutOfRangeException(nameof(spans), s, "bad span");
                total += 3L * s.Width * s.Height * s.Count;
                double start = Math.Max(0, s.StartSeconds), seek = Math.Max(0, start - SeekLead);
                if (MediaOptions.DecoderThreads > 0) args.AddRange(["-threads", MediaOptions.DecoderThreads.ToString(inv)]);
                if (seek > 0) args.AddRange(["-ss", seek.ToString("0.######", inv)]);
                args.AddRange(["-i", MediaProbe.FfmpegInput(s.Path)]);
                graph.Add($"[{i}:v:0]{Ticks(start - seek, s.Fps)},scale={s.Width}:{s.Height}:flags={MediaOptions.ScaleFlags}," +
                          $"trim=end_frame={s.Count.ToString(inv)}[o{i}]");
            }
            if (total > MediaOptions.MaxFrameBytes) return result;   // too much at once: one by one (each checks its own size)
            if (MediaOptions.DecoderThreads > 0) args.AddRange(["-filter_complex_threads", MediaOptions.DecoderThreads.ToString(inv)]);
            args.AddRange(["-filter_complex", string.Join(';', graph)]);
            for (int i = 0; i < spans.Count; i++)
            {
                outputs[i] = Path.Combine(dir, $"span{i}.rgb");
                args.AddRange(["-map", $"[o{i}]", "-vsync", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "file:" + outputs[i]]);
            }
            try { FfmpegProcess.Run(MediaOptions.Ffmpeg, args, spans[0].Path, MediaOptions.DecodeTimeout, ct, sizeHint: 4096); }
            catch (MediaError) { return result; }   // a hung or failed run: each span alone says what is wrong
            for (int i = 0; i < spans.Count; i++)
            {
                var s = spans[i];
                long want = 3L * s.Width * s.Height * s.Count;
                var f = new FileInfo(outputs[i]);
                if (!f.Exists || f.Length != want) continue;
                var rgb = new byte[want];
                using var fs = new FileStream(outputs[i], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
                if (fs.ReadAtLeast(rgb, rgb.Length, throwOnEndOfStream: false) == rgb.Length) result[i] = rgb;
            }
            return result;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Bytes of one RGB24 frame, after checking that <paramref name="clips"/> clips of <paramref name="count"/> such
    /// frames fit in <see cref="MediaOptions.MaxFrameBytes"/> (and each clip in one array); else a <see cref="MediaError"/>.</summary>
    static int FrameBytes(string path, int width, int height, int count, int clips)
    {
        long frame = 3L * width * height, clip = frame * count, total = clip * clips;
        if (clip > Array.MaxLength || total > MediaOptions.MaxFrameBytes)
            throw new MediaError(path, $"decoding {clips} × {count} frames of {width}x{height} needs {total >> 20} MB, over the limit of " +
                                       $"{MediaOptions.MaxFrameBytes >> 20} MB: lower data.num_frames or the crop sizes");
        return (int)frame;
    }

    static byte[] FirstFrame(int[] order, byte[][] clips, int[] real, int frameBytes)
    {
        int i = order.First(j => real[j] > 0);
        return clips[i].AsSpan(0, frameBytes).ToArray();
    }

    /// <summary>Clips whose starts are within this many seconds of the previous clip's end share one seek and decoding pass.</summary>
    public const double MergeGapSeconds = 3.0;

    internal static (List<string> Args, string[] Outputs) ClipsArguments(string input, IReadOnlyList<double> starts, int count, double fps,
                                                                         int width, int height, string dir)
    {
        var inv = CultureInfo.InvariantCulture;
        double span = count / fps;
        var order = Enumerable.Range(0, starts.Count).OrderBy(i => starts[i]).ToArray();
        var groups = new List<List<int>>();
        foreach (int i in order)
        {
            if (groups.Count > 0 && Math.Max(0, starts[i]) - (Math.Max(0, starts[groups[^1][^1]]) + span) <= MergeGapSeconds) groups[^1].Add(i);
            else groups.Add([i]);
        }
        var args = new List<string> { "-nostdin", "-hide_banner", "-v", "error" };
        var graph = new List<string>();
        var outputs = new string[starts.Count];
        string threads = MediaOptions.DecoderThreads.ToString(inv);
        for (int g = 0; g < groups.Count; g++)
        {
            double seek = Math.Max(0, Math.Max(0, starts[groups[g][0]]) - SeekLead);
            if (MediaOptions.DecoderThreads > 0) args.AddRange(["-threads", threads]);
            if (seek > 0) args.AddRange(["-ss", seek.ToString("0.######", inv)]);
            args.AddRange(["-i", input]);
            var branches = string.Concat(groups[g].Select(i => $"[b{i}]"));
            graph.Add($"[{g}:v:0]scale={width}:{height}:flags={MediaOptions.ScaleFlags},split={groups[g].Count}{branches}");
            foreach (int i in groups[g])
                graph.Add($"[b{i}]{Ticks(Math.Max(0, starts[i]) - seek, fps)},trim=end_frame={count.ToString(inv)}[c{i}]");
        }
        if (MediaOptions.DecoderThreads > 0) args.AddRange(["-filter_complex_threads", threads]);
        args.AddRange(["-filter_complex", string.Join(';', graph)]);
        for (int i = 0; i < starts.Count; i++)
        {
            outputs[i] = Path.Combine(dir, $"clip{i}.rgb");
            args.AddRange(["-map", $"[c{i}]", "-vsync", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "file:" + outputs[i]]);
        }
        return (args, outputs);
    }

    /// <summary>Seek this much before the start so the frame showing at the start (which began earlier) is still decoded.</summary>
    internal const double SeekLead = 0.25;
    /// <summary>Timestamp slack: a frame stamped up to 3 ms after a tick (millisecond time bases) still counts for it.</summary>
    const double TickSlack = 0.003;

    /// <summary>
    /// The filters that pick frame k = the last frame stamped at or before clip start + k/F (+3 ms slack), i.e. the frame
    /// showing at that time: shift timestamps so the clip start is 0 (the fps filter's grid is anchored at 0, so a
    /// start_time off the grid would shift every tick), then <c>fps=F:round=up</c> maps frame t to tick ceil(t·F) and
    /// keeps the latest frame per tick; earlier frames (negative times) only serve as the frame showing at tick 0.
    /// </summary>
    internal static string Ticks(double lead, double fps)
    {
        var inv = CultureInfo.InvariantCulture;
        return $"setpts=PTS-{(lead + TickSlack).ToString("0.#########", inv)}/TB,fps=fps={fps.ToString("0.#########", inv)}:round=up:start_time=0";
    }

    /// <summary>ffmpeg arguments of <see cref="Decode"/>: seek to start − lead, then <see cref="Ticks"/>, scale, RGB24 to stdout.</summary>
    internal static List<string> Arguments(string input, double start, int count, double fps, int width, int height)
    {
        var inv = CultureInfo.InvariantCulture;
        double seek = Math.Max(0, start - SeekLead), lead = start - seek;
        var args = new List<string> { "-nostdin", "-hide_banner", "-v", "error" };
        if (MediaOptions.DecoderThreads > 0) args.AddRange(["-threads", MediaOptions.DecoderThreads.ToString(inv)]);
        if (seek > 0) args.AddRange(["-ss", seek.ToString("0.######", inv)]);
        args.AddRange(["-i", input, "-map", "0:v:0", "-an", "-sn", "-dn",
                       "-vf", $"{Ticks(lead, fps)},scale={width}:{height}:flags={MediaOptions.ScaleFlags}",
                       "-frames:v", count.ToString(inv), "-vsync", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"]);
        if (MediaOptions.DecoderThreads > 0) args.InsertRange(args.IndexOf("-vf"), ["-filter_threads", MediaOptions.DecoderThreads.ToString(inv)]);
        return args;
    }
}
