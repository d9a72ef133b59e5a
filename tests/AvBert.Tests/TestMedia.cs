using System.Diagnostics;
using System.Globalization;

namespace AvBert.Tests;

/// <summary>What to generate: FFmpeg lavfi sources (testsrc2 pictures, sine tones), no downloads.</summary>
public sealed record TestMediaSpec
{
    public double Seconds { get; init; } = 3;
    public int Width { get; init; } = 160;
    public int Height { get; init; } = 120;
    public double Fps { get; init; } = 30;
    public bool Video { get; init; } = true;
    public bool Audio { get; init; } = true;
    public int SampleRate { get; init; } = 44100;
    public int Channels { get; init; } = 1;
    public double ToneHz { get; init; } = 440;
    /// <summary>lavfi video source, e.g. "testsrc2", "color=c=red", "mandelbrot".</summary>
    public string VideoSource { get; init; } = "testsrc2";
    /// <summary>Container by extension: mp4, mkv, webm, avi, mov, wav, ...</summary>
    public string Extension { get; init; } = "mp4";
    /// <summary>Codecs; null lets FFmpeg choose the container's default.</summary>
    public string? VideoCodec { get; init; } = "mpeg4";
    public string? AudioCodec { get; init; } = "aac";
    /// <summary>lavfi audio source replacing the sine tone, e.g. "aevalsrc=0.5|0.1:s=44100" (duration is appended).</summary>
    public string? AudioSource { get; init; }
    /// <summary>Extra output options, e.g. ["-g", "30"].</summary>
    public string[] ExtraOutputArgs { get; init; } = [];
}

/// <summary>Generates small media files for tests with the ffmpeg program.</summary>
public static class TestMedia
{
    public static string Make(string directory, string name, TestMediaSpec spec)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name.Contains('.') ? name : $"{name}.{spec.Extension}");
        var inv = CultureInfo.InvariantCulture;
        var args = new List<string> { "-y", "-v", "error" };
        if (spec.Video)
        {
            var src = spec.VideoSource.Contains('=') ? $"{spec.VideoSource}:s={spec.Width}x{spec.Height}:r={spec.Fps.ToString(inv)}"
                                                     : $"{spec.VideoSource}=s={spec.Width}x{spec.Height}:r={spec.Fps.ToString(inv)}";
            args.AddRange(["-f", "lavfi", "-i", $"{src}:d={spec.Seconds.ToString(inv)}"]);
        }
        if (spec.Audio)
            args.AddRange(["-f", "lavfi", "-i", spec.AudioSource is { } a ? $"{a}:d={spec.Seconds.ToString(inv)}"
                : $"sine=frequency={spec.ToneHz.ToString(inv)}:sample_rate={spec.SampleRate}:duration={spec.Seconds.ToString(inv)}"]);
        if (spec.Video && spec.VideoCodec is not null) args.AddRange(["-c:v", spec.VideoCodec]);
        if (spec.Video) args.AddRange(["-pix_fmt", "yuv420p"]);
        if (spec.Audio && spec.AudioCodec is not null) args.AddRange(["-c:a", spec.AudioCodec]);
        if (spec.Audio) args.AddRange(["-ac", spec.Channels.ToString(inv)]);
        args.AddRange(spec.ExtraOutputArgs);
        args.Add("-shortest");
        args.Add(path);
        Run(args);
        return path;
    }

    /// <summary>Runs ffmpeg with the given arguments; throws with its stderr on failure.</summary>
    public static void Run(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("ffmpeg could not be started: is it installed?");
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException("ffmpeg took over 120 s"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg {string.Join(' ', psi.ArgumentList)} failed: {err.Result}");
    }
}
