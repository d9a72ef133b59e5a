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

        int frameBytes = checked(width * height * 3);
        var rgb = new byte[checked((long)frameBytes * count) is var total && total <= Array.MaxLength ? (int)total
                           : throw new ArgumentOutOfRangeException(nameof(count), "clip too large for one array")];
        var input = MediaProbe.FfmpegInput(path);
        var args = Arguments(input, Math.Max(0, startSeconds), count, fps, width, height);
        var r = FfmpegProcess.Run(MediaOptions.Ffmpeg, args, path, MediaOptions.DecodeTimeout, ct, output: rgb);

        int real = r.Length / frameBytes;
        if (r.ExitCode != 0 && real == 0) throw new MediaError(path, FfmpegErrors.Reason(r.Error, input, r.ExitCode));
        if (real == 0)
            throw new MediaError(path, $"no video frame at or after {startSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s" +
                                       (r.Error.Length > 0 ? $" ({FfmpegErrors.Reason(r.Error, input, r.ExitCode)})" : ""));
        for (int i = real; i < count; i++) // the file ended early: repeat the last real frame
            Buffer.BlockCopy(rgb, (real - 1) * frameBytes, rgb, i * frameBytes, frameBytes);
        return new DecodedFrames(rgb, count, width, height, real);
    }

    /// <summary>Seek this much before the start so the frame showing at the start (which began earlier) is still decoded.</summary>
    const double SeekLead = 0.25;
    /// <summary>Timestamp slack: a frame stamped up to 3 ms after a tick (millisecond time bases) still counts for it.</summary>
    const double TickSlack = 0.003;

    /// <summary>
    /// ffmpeg arguments. Seek to start − lead; shift timestamps 3 ms earlier; then <c>fps=F:round=up:start_time=lead</c>
    /// gives for tick k the last frame stamped at or before start + k/F (+3 ms), i.e. the frame showing at that time.
    /// </summary>
    internal static List<string> Arguments(string input, double start, int count, double fps, int width, int height)
    {
        var inv = CultureInfo.InvariantCulture;
        double seek = Math.Max(0, start - SeekLead), lead = start - seek;
        var args = new List<string> { "-nostdin", "-hide_banner", "-v", "error" };
        if (MediaOptions.DecoderThreads > 0) args.AddRange(["-threads", MediaOptions.DecoderThreads.ToString(inv)]);
        if (seek > 0) args.AddRange(["-ss", seek.ToString("0.######", inv)]);
        args.AddRange(["-i", input, "-map", "0:v:0", "-an", "-sn", "-dn",
                       "-vf", $"setpts=PTS-{TickSlack.ToString(inv)}/TB,fps=fps={fps.ToString("0.######", inv)}:round=up:start_time={lead.ToString("0.######", inv)}," +
                              $"scale={width}:{height}:flags={MediaOptions.ScaleFlags}",
                       "-frames:v", count.ToString(inv), "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"]);
        if (MediaOptions.DecoderThreads > 0) args.InsertRange(args.IndexOf("-vf"), ["-filter_threads", MediaOptions.DecoderThreads.ToString(inv)]);
        return args;
    }
}
