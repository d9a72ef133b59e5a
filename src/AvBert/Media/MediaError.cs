using AvBert.Runtime;

namespace AvBert.Media;

/// <summary>
/// A media file that cannot be used: missing, empty, unreadable, not media, the needed stream missing, too short, a decode
/// that failed or hung. The message is one line, "PATH: REASON", so a loader can skip the file and log it.
/// </summary>
public class MediaError(string path, string reason, Exception? inner = null)
    : UserError($"{path}: {OneLine(reason)}", inner)
{
    public string Path { get; } = path;
    public string Reason { get; } = OneLine(reason);

    internal static string OneLine(string s) => ErrorReport.OneLine(s, 300);
}

/// <summary>The ffmpeg or ffprobe program is missing or broken: every file would fail, so this is not a per-file skip.</summary>
public sealed class FfmpegMissingError(string program, Exception? inner = null)
    : UserError($"cannot run '{program}': install FFmpeg (e.g. apt-get install ffmpeg) or point {MediaOptions.FfmpegDirVariable} at the folder holding ffmpeg and ffprobe", inner);
