using System.Runtime.InteropServices;

namespace AvBert.Runtime;

/// <summary>
/// What the CLI prints for an exception that ends a command, and with which exit code (<see cref="ExitCodes"/>): one line,
/// never a stack trace. User errors and the failures a user can cause (a full disk, a path that is a file, permission
/// denied, a symlink loop, out of memory) get their own line and code; anything else is an internal error whose stack
/// trace goes to a log file named in the line.
/// </summary>
public static class ErrorReport
{
    /// <summary>The exit code and the one line (starting "error: ") for <paramref name="e"/>. For an internal error the
    /// details are written to a log file by <paramref name="writeLog"/> (default: <see cref="WriteLog"/>), which returns its path.</summary>
    public static (int ExitCode, string Line) Describe(Exception e, Func<Exception, string?>? writeLog = null)
    {
        e = Unwrap(e);
        switch (e)
        {
            case UserError ue:
                return (ue.ExitCode, $"error: {OneLine(ue.Message)}");
            case OperationCanceledException:
                return (ExitCodes.Interrupted, "cancelled.");
            case OutOfMemoryException:
                return (ExitCodes.OutOfResources, $"error: out of memory ({OneLine(e.Message)}). {MemoryHint}");
            case ExternalException when IsOutOfMemory(e):
                return (ExitCodes.OutOfResources, $"error: out of memory in libtorch ({OneLine(FirstLine(e.Message))}). {MemoryHint}");
            case IOException io when IsDiskFull(io):
                return (ExitCodes.OutOfResources, $"error: no space left on the disk: {OneLine(io.Message)}. Free some space or write elsewhere (--out).");
            case UnauthorizedAccessException when QuotedPath(e.Message) is { } dir && Directory.Exists(dir):
                return (ExitCodes.UserError, $"error: {dir} is a folder, where a file is needed: give a file name (e.g. --out {Path.Combine(dir, "out.safetensors")}).");
            case UnauthorizedAccessException:
                return (ExitCodes.UserError, $"error: permission denied: {OneLine(e.Message)}. Check the owner and mode of that path, or write elsewhere.");
            case DirectoryNotFoundException or FileNotFoundException:
                return (ExitCodes.UserError, $"error: not found: {OneLine(e.Message)}");
            case PathTooLongException:
                return (ExitCodes.UserError, $"error: path too long: {OneLine(e.Message)}");
            case IOException io when io.HResult == ErrnoLoop || io.Message.Contains("symbolic links", StringComparison.OrdinalIgnoreCase):
                return (ExitCodes.UserError, $"error: symbolic link loop: {OneLine(io.Message)}. Remove the link that points back into its own folder.");
            case IOException io when io.Message.Contains("already exists", StringComparison.Ordinal) && QuotedPath(io.Message) is { } file && File.Exists(file):
                return (ExitCodes.UserError, $"error: {file} is a file, where a folder is needed: give --out a new or existing folder, or remove the file.");
            case IOException io:
                return (ExitCodes.UserError, $"error: {OneLine(io.Message)}");
        }
        string? log = null, why = null;
        try { log = (writeLog ?? WriteLog)(e); }
        catch (Exception le) { why = le.Message; }
        string details = log is not null ? $"details: {log}" : $"details could not be written: {why ?? "no log folder"}";
        return (ExitCodes.Internal, $"error: internal error: {e.GetType().Name}: {OneLine(FirstLine(e.Message))} ({details})");
    }

    /// <summary>The hint every out-of-memory line ends with.</summary>
    public const string MemoryHint = "Use a smaller batch (--set pretrain.batch_size=N, or downstream.TASK.batch_size=N), fewer loader workers (--workers), or --preset small.";

    /// <summary>True for libtorch's allocation failures (CPU "DefaultCPUAllocator: can't allocate memory", CUDA "out of memory").</summary>
    public static bool IsOutOfMemory(Exception e) => e is OutOfMemoryException ||
        e is ExternalException && (e.Message.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase)
                                   || e.Message.Contains("DefaultCPUAllocator", StringComparison.Ordinal)
                                   || e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase));

    const int ErrnoNoSpace = 28, ErrnoQuota = 122, ErrnoLoop = 40;

    /// <summary>ENOSPC or EDQUOT (.NET on Linux puts the errno in HResult; the message says it too).</summary>
    public static bool IsDiskFull(IOException e) =>
        e.HResult is ErrnoNoSpace or ErrnoQuota || e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)
        || e.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase);

    /// <summary>Writes the exception with its stack trace to a new file (AVBERT_LOG_DIR, else the temp folder, else the current
    /// folder) and returns its path.</summary>
    public static string WriteLog(Exception e)
    {
        var name = $"avbert-error-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.log";
        var text = $"{DateTime.UtcNow:O} avbert {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}\n{e}\n";
        Exception? last = null;
        foreach (var dir in new[] { Environment.GetEnvironmentVariable("AVBERT_LOG_DIR"), Path.GetTempPath(), Environment.CurrentDirectory })
        {
            if (string.IsNullOrEmpty(dir)) continue;
            try
            {
                var path = Path.Combine(dir, name);
                File.WriteAllText(path, text);
                return path;
            }
            catch (Exception we) when (we is IOException or UnauthorizedAccessException) { last = we; }
        }
        throw last ?? new IOException("no folder to write the log to");
    }

    /// <summary>The exception inside wrappers that only say "something inside failed".</summary>
    public static Exception Unwrap(Exception e)
    {
        while (e is AggregateException or System.Reflection.TargetInvocationException or TypeInitializationException && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }

    /// <summary>The path .NET's file-system messages quote ("... '/path' ..."), or null.</summary>
    static string? QuotedPath(string message)
    {
        int a = message.IndexOf('\''), b = a < 0 ? -1 : message.LastIndexOf('\'');
        return b > a + 1 ? message[(a + 1)..b] : null;
    }

    static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();

    /// <summary><paramref name="s"/> on one line (line breaks become spaces), cut to <paramref name="max"/> characters.</summary>
    public static string OneLine(string s, int max = 1000)
    {
        var line = string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return line.Length > max ? line[..(max - 3)] + "..." : line;
    }
}
