using System.Text.RegularExpressions;

namespace AvBert.Media;

/// <summary>Turns the files' own problems into short reasons: checks before running FFmpeg, and FFmpeg's stderr after.</summary>
internal static partial class FfmpegErrors
{
    /// <summary>Fails fast, without starting a process, on a missing, empty, unreadable file or a folder.</summary>
    public static void CheckReadable(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new MediaError(path ?? "", "empty path");
        if (Directory.Exists(path)) throw new MediaError(path, "is a folder, not a media file");
        FileInfo info;
        try { info = new FileInfo(path); }
        catch (Exception e) when (e is ArgumentException or PathTooLongException or NotSupportedException)
        { throw new MediaError(path, $"invalid path ({e.Message})"); }
        if (!info.Exists) throw new MediaError(path, "file not found");
        if (info.Length == 0) throw new MediaError(path, "empty file (0 bytes)");
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
        }
        catch (UnauthorizedAccessException) { throw new MediaError(path, "permission denied (the file is not readable by this user)"); }
        catch (IOException e) { throw new MediaError(path, $"cannot open: {e.Message}"); }
    }

    /// <summary>
    /// The reason in FFmpeg's stderr (run with <c>-v error</c>): the line about the input file when there is one, with the
    /// first demuxer/decoder detail in brackets; well-known cases get plain words.
    /// </summary>
    public static string Reason(string stderr, string path, int exitCode)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                          .Select(StripContext).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0) return $"ffmpeg exited with code {exitCode} and no message";
        foreach (var l in lines)
        {
            if (l.Contains("No such file or directory")) return "file not found";
            if (l.Contains("Permission denied")) return "permission denied (the file is not readable by this user)";
            if (l.Contains("matches no streams") && l.Contains(":v")) return "no video stream";
            if (l.Contains("matches no streams") && l.Contains(":a")) return "no audio stream";
        }
        string main = lines.FirstOrDefault(l => l.StartsWith(path + ":", StringComparison.Ordinal)) is { } m
            ? m[(path.Length + 1)..].Trim() : lines[0];
        if (main.Contains("Invalid data found when processing input")) main = "not a media file FFmpeg can read (invalid data)";
        var detail = lines.FirstOrDefault(l => !l.StartsWith(path + ":", StringComparison.Ordinal) && l != main);
        return detail is null ? main : $"{main} ({detail})";
    }

    /// <summary>The error for a failed FFmpeg run: <see cref="Reason"/>, transient when FFmpeg ran out of disk space or of a
    /// temporarily unavailable resource (the file itself may be fine).</summary>
    public static MediaError Failure(string path, string stderr, string input, int exitCode) =>
        new(path, Reason(stderr, input, exitCode))
        {
            Transient = stderr.Contains("No space left on device", StringComparison.Ordinal)
                        || stderr.Contains("Resource temporarily unavailable", StringComparison.Ordinal),
        };

    /// <summary>Drops FFmpeg's "[mov,mp4 @ 0x55d...] " context prefix.</summary>
    static string StripContext(string line) => ContextPrefix().Replace(line, "").Trim();

    [GeneratedRegex(@"^(\[[^\]]*@ ?0x[0-9a-fA-F]+\]\s*)+")]
    private static partial Regex ContextPrefix();
}
