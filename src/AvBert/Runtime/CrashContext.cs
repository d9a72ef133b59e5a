namespace AvBert.Runtime;

/// <summary>
/// What this process is doing right now, in a few words ("pretraining step 120", "the convolution self-check"), kept in
/// a small file that the CLI's crash supervisor reads when the process dies of a signal inside native code, so that its
/// one line can say what was running. The file is named by AVBERT_ACTIVITY_FILE (set by the supervisor); without it
/// nothing is written.
/// </summary>
public static class CrashContext
{
    public const string FileVariable = "AVBERT_ACTIVITY_FILE";

    static readonly string? File = Environment.GetEnvironmentVariable(FileVariable) is { Length: > 0 } f ? f : null;
    static readonly object Gate = new();
    static string current = "";

    /// <summary>The activity last set (empty: none).</summary>
    public static string Current => current;

    /// <summary>Records <paramref name="activity"/> (overwriting the last; not durable: it only has to outlive this
    /// process's crash, not the machine's).</summary>
    public static void Set(string activity)
    {
        lock (Gate)
        {
            if (activity == current) return;
            current = activity;
            if (File is null) return;
            // Written aside and renamed over the file, so that a crash in the middle of a write never leaves the supervisor an
            // empty file (a plain WriteAllText truncates first). No fsync: it only has to outlive this process, not the machine.
            try
            {
                System.IO.File.WriteAllText(File + ".new", activity);
                System.IO.File.Move(File + ".new", File, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}
