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
    /// <summary>The failure says nothing about the file (a decode that timed out under load, no space for temporary files):
    /// worth trying again rather than skipping the file for good.</summary>
    public bool Transient { get; init; }

    /// <summary>True for failures worth retrying: a <see cref="Transient"/> media error, or an I/O error of the machine
    /// (disk full, too many open files, resource temporarily unavailable) rather than of the file.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        MediaError me => me.Transient,
        IOException io => ErrorReport.IsDiskFull(io) || io.HResult is 11 or 23 or 24, // EAGAIN, ENFILE, EMFILE
        _ => false,
    };

    internal static string OneLine(string s) => ErrorReport.OneLine(s, 300);
}

/// <summary>The ffmpeg or ffprobe program is missing or broken: every file would fail, so this is not a per-file skip.</summary>
public sealed class FfmpegMissingError(string program, Exception? inner = null)
    : UserError($"cannot run '{program}': install FFmpeg (e.g. apt-get install ffmpeg) or point {MediaOptions.FfmpegDirVariable} at the folder holding ffmpeg and ffprobe", inner);
