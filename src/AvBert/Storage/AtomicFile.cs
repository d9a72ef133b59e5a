using System.Runtime.InteropServices;
using System.Text;
using AvBert.Runtime;

namespace AvBert.Storage;

/// <summary>The disk (or the user's quota) filled up while writing a file; the previous version of the file is intact.</summary>
public sealed class DiskFullError(string message, Exception? inner = null) : UserError(message, inner)
{
    public override int ExitCode => ExitCodes.OutOfResources;
}

/// <summary>
/// Every result and state file is written the same way: into a temporary file in the target's folder, flushed to
/// disk (fsync), renamed over the target, then the folder itself is fsynced so the rename survives a power cut.
/// A crash or a full disk at any moment leaves either the old file or the new one, never a mix; a full disk ends
/// as a <see cref="DiskFullError"/> naming the file (exit code 4).
/// </summary>
public static class AtomicFile
{
    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Test seam: wraps the stream a file's content is written to (e.g. one that fails like a full disk).</summary>
    internal static readonly AsyncLocal<Func<Stream, Stream>?> StreamWrapper = new();

    /// <summary>Writes <paramref name="path"/> with what <paramref name="write"/> puts into the stream it gets.</summary>
    public static void Write(string path, Action<Stream> write) => Replace(path, tmp =>
    {
        using var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        var wrapper = StreamWrapper.Value;
        var target = wrapper is null ? fs : wrapper(fs);
        write(target);
        target.Flush();
        fs.Flush(flushToDisk: true);
    });

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Utf8.GetBytes(text));

    public static void WriteAllLines(string path, IEnumerable<string> lines) =>
        WriteAllText(path, string.Concat(lines.Select(l => l + "\n")));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>
    /// For writers that need a path (image and video encoders, an FFmpeg child process): <paramref name="writeTo"/> writes
    /// a temporary file (same extension as <paramref name="path"/>), which is then fsynced and renamed over
    /// <paramref name="path"/>. When <paramref name="writeTo"/> throws, the temporary file is deleted and the old file kept.
    /// </summary>
    public static void WriteVia(string path, Action<string> writeTo) => Replace(path, tmp =>
    {
        writeTo(tmp);
        using var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        fs.Flush(flushToDisk: true);
    });

    /// <summary>The temporary files of <see cref="Replace"/>: ".NAME.tmp-PID-XXXXXXXX.EXT", PID the writing process.</summary>
    static readonly System.Text.RegularExpressions.Regex TemporaryName = new(@"^\..*\.tmp-(\d+)-[0-9a-f]{8}(\.[^.]*)?$");

    /// <summary>
    /// Deletes the temporary files that writers killed mid-write (SIGKILL, a power cut) left in <paramref name="dir"/>:
    /// those whose writing process is gone. A live writer's file (its process still runs) is left alone, so this is safe
    /// beside another process writing into the same folder. Returns how many were deleted.
    /// </summary>
    public static int RemoveStaleTemporaries(string dir)
    {
        if (!Directory.Exists(dir)) return 0;
        int removed = 0;
        foreach (var file in Directory.EnumerateFiles(dir, ".*.tmp-*"))
        {
            var m = TemporaryName.Match(Path.GetFileName(file));
            if (!m.Success || !int.TryParse(m.Groups[1].Value, out var pid) || ProcessAlive(pid)) continue;
            try { File.Delete(file); removed++; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* not ours to clean after all */ }
        }
        return removed;
    }

    static bool ProcessAlive(int pid) => pid == Environment.ProcessId || !OperatingSystem.IsLinux() || Directory.Exists($"/proc/{pid}");

    static void Replace(string path, Action<string> writeTemp)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        string tmp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(name)}.tmp-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}{Path.GetExtension(name)}");
        // The rename would replace whatever is there: only ever a regular file (never a device, a pipe or a socket, e.g.
        // --out /dev/null run as root), and never a folder.
        if (File.Exists(full) && !IsRegular(full))
            throw new UserError($"{full} exists and is not a regular file (a device, pipe or socket): it is not replaced. Fix: write to a file path.");
        if (Directory.Exists(full))
            throw new UserError($"{full} is a folder, where a file is needed. Fix: give a file name inside it.");
        try
        {
            Directory.CreateDirectory(dir);
            writeTemp(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(tmp); } catch (Exception) { /* best effort: the temporary file is not the result */ }
            if (IsDiskFull(e)) throw DiskFull(full, e);
            throw;
        }
        FsyncDirectory(dir);
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "stat")]
    static extern int Stat(string path, byte[] buf);

    /// <summary>Whether <paramref name="path"/> (after links) is a regular file: st_mode's S_IFMT bits are S_IFREG.</summary>
    static bool IsRegular(string path)
    {
        // .NET has no file-type query beyond folders and links (and opening a FIFO would block). st_mode sits at offset
        // 24 of struct stat on x86-64 Linux (the only runtime we build for); glibc exports stat() since 2.33.
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || RuntimeInformation.ProcessArchitecture != Architecture.X64) return true;
        var buf = new byte[256];
        try
        {
            if (Stat(path, buf) != 0) return true; // cannot tell: let the rename report what is wrong
        }
        catch (EntryPointNotFoundException) { return true; }
        uint mode = BitConverter.ToUInt32(buf, 24);
        return (mode & 0xF000) == 0x8000;
    }

    /// <summary>The one message for a full disk while writing <paramref name="path"/>.</summary>
    public static DiskFullError DiskFull(string path, Exception e) =>
        new($"{path}: the disk is full (or the quota is used up): the write did not complete and the previous version, if any, is kept. " +
            $"Fix: free space on the disk of {Path.GetDirectoryName(path)} (or write elsewhere) and run again.", e);

    /// <summary>Whether <paramref name="e"/> (or an exception inside it) says there is no space left (ENOSPC, EDQUOT, Windows' disk-full codes).</summary>
    public static bool IsDiskFull(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is not IOException) continue;
            int code = e.HResult;
            if (OperatingSystem.IsWindows() ? code is unchecked((int)0x80070070) or unchecked((int)0x80070027) : code is Enospc or Edquot) return true;
            if (e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }

    const int Enospc = 28, Edquot = 122;

    /// <summary>Flushes a folder's entries (renames, new files) to disk. No-op where folders cannot be opened (Windows).</summary>
    public static void FsyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = open(dir, O_RDONLY);   // a folder opens read-only on Linux and macOS alike
        if (fd < 0) return;   // e.g. no read permission on the folder: the rename itself happened
        try { fsync(fd); }
        finally { close(fd); }
    }

    const int O_RDONLY = 0;

    [DllImport("libc", SetLastError = true)]
    static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    static extern int fsync(int fd);

    [DllImport("libc")]
    static extern int close(int fd);
}
