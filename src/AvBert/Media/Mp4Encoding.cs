using System.Diagnostics;
using AvBert.Runtime;

namespace AvBert.Media;

/// <summary>
/// How the videos AVBERT.NET writes itself (toy-av, the real-media set) are encoded: H.264 (libx264, veryfast, CRF 18) when
/// this FFmpeg has it, else MPEG-4 part 2 (q 3); yuv420p; AAC at 128 kb/s; MP4.
/// </summary>
public static class Mp4Encoding
{
    static readonly Lazy<string> Codec = new(() => HasEncoder("libx264") ? "libx264" : "mpeg4");

    /// <summary>The video encoder to use: libx264 when this FFmpeg has it, else mpeg4.</summary>
    public static string VideoCodec => Codec.Value;

    /// <summary>The output options of the video stream for <paramref name="codec"/>.</summary>
    public static string[] VideoArgs(string codec) =>
        ["-c:v", codec, "-pix_fmt", "yuv420p", .. codec == "libx264" ? new[] { "-preset", "veryfast", "-crf", "18" } : ["-q:v", "3"]];

    /// <summary>The output options of the audio stream.</summary>
    public static readonly IReadOnlyList<string> AudioArgs = ["-c:a", "aac", "-b:a", "128k"];

    /// <summary>The one message for an ffmpeg program that cannot be started while writing videos.</summary>
    public static UserError FfmpegNotFound(string job) =>
        new($"{job}: the ffmpeg program was not found. Fix: install FFmpeg (apt-get install -y ffmpeg) or put it on PATH.");

    static bool HasEncoder(string name)
    {
        try
        {
            var psi = new ProcessStartInfo(MediaOptions.Ffmpeg, ["-hide_banner", "-encoders"]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            _ = p.StandardError.ReadToEndAsync();
            var outp = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return outp.Contains(" " + name + " ");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw FfmpegNotFound("writing videos");
        }
    }
}
