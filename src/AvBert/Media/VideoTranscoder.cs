using System.Globalization;

namespace AvBert.Media;

/// <summary>How <see cref="VideoTranscoder"/> encodes: H.264 quality, keyframe interval, threads, CUDA use.</summary>
public sealed record TranscodeOptions
{
    public int Crf { get; init; } = 23;
    public int KeyframeInterval { get; init; } = 64;
    /// <summary>FFmpeg threads for decoding, filtering and encoding; 0 lets FFmpeg choose.</summary>
    public int Threads { get; init; }
    public FfmpegCuda Cuda { get; init; } = FfmpegCuda.None;
}

/// <summary>
/// Writes the video a prepared set keeps (<c>avbert prep</c>): frame k is the source frame showing at start + k/fps (the frame timing of
/// <see cref="VideoDecoder"/>), scaled to width×height, H.264 in Matroska with a keyframe every KeyframeInterval frames and
/// no scene-cut keyframes, so seeks cost at most one interval. Video only (the audio is kept apart, see <c>avbert prep</c>).
/// </summary>
public static class VideoTranscoder
{
    /// <summary>Transcodes <paramref name="frames"/> frames of <paramref name="path"/> from <paramref name="startSeconds"/> into
    /// <paramref name="output"/>. Throws <see cref="MediaError"/> when the source cannot be decoded or no frame came out.</summary>
    public static void ToPrepared(string path, double startSeconds, int frames, double fps, int width, int height, string output,
                               TranscodeOptions options, CancellationToken ct = default)
    {
        FfmpegErrors.CheckReadable(path);
        var input = MediaProbe.FfmpegInput(path);
        var args = Arguments(input, startSeconds, frames, fps, width, height, "file:" + Path.GetFullPath(output), options);
        var r = FfmpegProcess.Run(MediaOptions.Ffmpeg, args, path, MediaOptions.DecodeTimeout * 4, ct, sizeHint: 4096);
        if (r.ExitCode != 0) throw new MediaError(path, FfmpegErrors.Reason(r.Error, input, r.ExitCode));
        if (!File.Exists(output) || new FileInfo(output).Length == 0) throw new MediaError(path, "no video frame could be decoded");
    }

    internal static List<string> Arguments(string input, double start, int frames, double fps, int width, int height, string output,
                                           TranscodeOptions o)
    {
        var inv = CultureInfo.InvariantCulture;
        double seek = Math.Max(0, start - VideoDecoder.SeekLead), lead = start - seek;
        var args = new List<string> { "-nostdin", "-hide_banner", "-v", "error", "-y" };
        string threads = o.Threads.ToString(inv);
        if (o.Threads > 0) args.AddRange(["-threads", threads]);
        bool gpuScale = o.Cuda == FfmpegCuda.DecodeAndScale;
        if (o.Cuda != FfmpegCuda.None) args.AddRange(["-hwaccel", "cuda"]);
        if (gpuScale) args.AddRange(["-hwaccel_output_format", "cuda"]);
        if (seek > 0) args.AddRange(["-ss", seek.ToString("0.######", inv)]);
        var scale = gpuScale ? $"scale_cuda={width}:{height},hwdownload,format=nv12"
                             : $"scale={width}:{height}:flags={MediaOptions.ScaleFlags}";
        args.AddRange(["-i", input, "-map", "0:v:0", "-an", "-sn", "-dn"]);
        if (o.Threads > 0) args.AddRange(["-filter_threads", threads]);
        args.AddRange(["-vf", $"{VideoDecoder.Ticks(lead, fps)},{scale}",
                       "-frames:v", frames.ToString(inv), "-vsync", "passthrough",
                       "-c:v", "libx264", "-preset", "veryfast", "-crf", o.Crf.ToString(inv), "-pix_fmt", "yuv420p",
                       "-g", o.KeyframeInterval.ToString(inv), "-keyint_min", o.KeyframeInterval.ToString(inv), "-sc_threshold", "0",
                       "-f", "matroska", output]);
        if (o.Threads > 0) args.InsertRange(args.IndexOf("-c:v"), ["-threads", threads]);
        return args;
    }
}

/// <summary>What of FFmpeg's CUDA support a transcode uses.</summary>
public enum FfmpegCuda { None, Decode, DecodeAndScale }

/// <summary>Finds out whether this FFmpeg build and machine can decode (and scale) on a CUDA GPU.</summary>
public static class FfmpegHardware
{
    /// <summary>The CUDA support to use, and when it is none, why (for the fallback warning).</summary>
    public static (FfmpegCuda Cuda, string? Why) DetectCuda(CancellationToken ct = default)
    {
        var hw = FfmpegProcess.Run(MediaOptions.Ffmpeg, ["-hide_banner", "-hwaccels"], "ffmpeg", MediaOptions.ProbeTimeout, ct);
        var accels = System.Text.Encoding.UTF8.GetString(hw.Output, 0, hw.Length);
        if (!accels.Split('\n').Any(l => l.Trim() == "cuda")) return (FfmpegCuda.None, "this FFmpeg build has no CUDA decoding (ffmpeg -hwaccels)");
        // Listed is not usable: the build may have it while the machine has no GPU or driver.
        var dev = FfmpegProcess.Run(MediaOptions.Ffmpeg, ["-nostdin", "-hide_banner", "-v", "error", "-init_hw_device", "cuda=gpu",
                                                          "-f", "lavfi", "-i", "nullsrc=s=16x16:d=0.04", "-f", "null", "-"],
                                    "ffmpeg", MediaOptions.ProbeTimeout, ct);
        if (dev.ExitCode != 0)
        {
            var detail = MediaError.OneLine(dev.Error.Trim());
            return (FfmpegCuda.None, $"FFmpeg cannot open a CUDA device ({(detail.Length > 0 ? detail : $"exit code {dev.ExitCode}")})");
        }
        var filters = FfmpegProcess.Run(MediaOptions.Ffmpeg, ["-hide_banner", "-filters"], "ffmpeg", MediaOptions.ProbeTimeout, ct);
        bool scale = System.Text.Encoding.UTF8.GetString(filters.Output, 0, filters.Length).Contains(" scale_cuda ");
        return (scale ? FfmpegCuda.DecodeAndScale : FfmpegCuda.Decode, null);
    }
}
