using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace AvBert.Media;

/// <summary>What one ffmpeg/ffprobe run produced: stdout bytes (Length of them are valid), stderr text, exit code.</summary>
internal sealed record FfmpegResult(byte[] Output, int Length, string Error, int ExitCode);

/// <summary>
/// Runs ffmpeg or ffprobe as a child process with raw pipes, bounded in time and always reaped.
/// stdout is read on the calling thread while stderr drains on another (no pipe deadlock); stdin is closed and
/// <c>-nostdin</c> keeps ffmpeg off the terminal. On cancellation, timeout or any exception the whole process tree is
/// killed and waited for. Each child runs under an address-space limit (<see cref="MediaOptions.ChildMemoryLimitBytes"/>,
/// through prlimit), so a hostile file cannot make a decoder eat the machine's memory. Every live child is in a registry
/// that is killed on SIGINT/SIGTERM/SIGHUP/SIGQUIT and at exit,
/// so Ctrl+C never leaves decoders behind.
/// </summary>
internal static class FfmpegProcess
{
    const int MaxErrorChars = 16 * 1024;

    /// <summary>
    /// Runs <paramref name="program"/> and returns its output. <paramref name="output"/>, when given, is filled first
    /// (reads stop once it is full and the rest is drained and dropped); <paramref name="read"/>, when given, consumes stdout
    /// itself (the result's Length is what it returns; what it leaves is drained); otherwise a buffer grows from
    /// <paramref name="sizeHint"/> up to <paramref name="maxBytes"/> (beyond: a <see cref="MediaError"/>).
    /// Throws <see cref="MediaError"/> on timeout, <see cref="OperationCanceledException"/> when <paramref name="ct"/> fires,
    /// <see cref="FfmpegMissingError"/> when the program cannot start. A non-zero exit code is returned, not thrown.
    /// <paramref name="workingDirectory"/>: where the child runs (default: this process's folder).
    /// </summary>
    public static FfmpegResult Run(string program, IReadOnlyList<string> args, string mediaPath, TimeSpan timeout,
                                   CancellationToken ct, byte[]? output = null, int sizeHint = 1 << 16,
                                   Func<Stream, int>? read = null, int maxBytes = DefaultMaxBytes, long? addressSpaceLimit = null, string? workingDirectory = null)
    {
        ct.ThrowIfCancellationRequested();
        ThrowIfInterrupted();
        long memoryLimit = addressSpaceLimit ?? MediaOptions.ChildMemoryLimitBytes;
        bool limited = memoryLimit > 0 && Prlimit is not null;
        if (limited && Resolve(program) is null) throw new FfmpegMissingError(program);
        var psi = new ProcessStartInfo(limited ? Prlimit! : program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory ?? "",
        };
        if (limited) // prlimit sets the limit and execs the program: same process, killed and reaped as before
            foreach (var a in new[] { $"--as={memoryLimit}", "--", program }) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);

        var p = new Process { StartInfo = psi };
        try
        {
            if (!p.Start()) throw new FfmpegMissingError(program);
        }
        catch (Win32Exception e)
        {
            p.Dispose();
            throw new FfmpegMissingError(program, e);
        }
        LiveChildren.Add(p);
        LastStartedPid = p.Id;
        StartedOnThisThread++;

        using var timeoutCts = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutCts.Token);
        using var kill = linked.Token.Register(() => KillTree(p));
        Task<string>? errTask = null;
        try
        {
            p.StandardInput.Close();
            errTask = ReadLimitedAsync(p.StandardError);
            byte[] buffer;
            int length;
            if (read is not null)
            {
                buffer = [];
                length = read(p.StandardOutput.BaseStream);
                Drain(p.StandardOutput.BaseStream);
            }
            else
            {
                buffer = output ?? new byte[Math.Clamp(sizeHint, 4096, maxBytes)];
                length = ReadAll(p.StandardOutput.BaseStream, ref buffer, growable: output is null, maxBytes);
                if (length < 0)
                    throw new MediaError(mediaPath, $"{Path.GetFileName(program)} wrote more than {maxBytes >> 20} MB, more than asked for: refused");
            }
            p.WaitForExit();
            var err = errTask.GetAwaiter().GetResult();
            if (ct.IsCancellationRequested) throw new OperationCanceledException(ct);
            ThrowIfInterrupted(); // the child died of our Ctrl+C, not of its file: not a bad file
            if (timeoutCts.IsCancellationRequested)
                throw new MediaError(mediaPath, $"{Path.GetFileName(program)} gave no result within {timeout.TotalSeconds:0.#} s (hung or too slow), killed") { Transient = true };
            return new FfmpegResult(buffer, length, err, p.ExitCode);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The pipe broke because we killed the process (cancel/timeout) or it died: report what happened.
            if (ct.IsCancellationRequested) throw new OperationCanceledException(ct);
            ThrowIfInterrupted();
            if (timeoutCts.IsCancellationRequested)
                throw new MediaError(mediaPath, $"{Path.GetFileName(program)} gave no result within {timeout.TotalSeconds:0.#} s (hung or too slow), killed", e) { Transient = true };
            throw new MediaError(mediaPath, $"{Path.GetFileName(program)} failed: {e.Message}", e);
        }
        finally
        {
            Reap(p);
            try { errTask?.Wait(TimeSpan.FromSeconds(5)); } catch { /* stderr broke with the process: ignore */ }
            LiveChildren.Remove(p);
            p.Dispose();
        }
    }

    static readonly ConcurrentDictionary<string, string?> Resolved = new();

    /// <summary>util-linux's prlimit (on every Debian/Ubuntu), which runs a program under an address-space limit; null if absent.</summary>
    static readonly string? Prlimit = Resolve("prlimit");

    /// <summary>The executable <paramref name="program"/> names (a path, or a name looked up on PATH), or null.</summary>
    static string? Resolve(string program) => Resolved.GetOrAdd(program, p =>
        p.Contains('/') ? (File.Exists(p) ? p : null)
        : (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
              .Select(d => Path.Combine(d, p)).FirstOrDefault(File.Exists));

    /// <summary>Largest stdout a growing buffer may reach (a decode asks for a known amount; more means something is wrong).</summary>
    public const int DefaultMaxBytes = 256 << 20;

    /// <summary>Reads the stream to its end. Fills <paramref name="buffer"/>; grows it when allowed (up to
    /// <paramref name="maxBytes"/>; -1 when the stream holds more), else drains the excess.</summary>
    static int ReadAll(Stream s, ref byte[] buffer, bool growable, int maxBytes)
    {
        int length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (!growable) { Drain(s); return length; }
                if (buffer.Length >= maxBytes) { Drain(s); return -1; }
                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, maxBytes));
            }
            int n = s.Read(buffer, length, buffer.Length - length);
            if (n == 0) return length;
            length += n;
        }
    }

    static void Drain(Stream s)
    {
        var scratch = new byte[1 << 16];
        while (s.Read(scratch, 0, scratch.Length) > 0) { }
    }

    static async Task<string> ReadLimitedAsync(StreamReader r)
    {
        var sb = new StringBuilder();
        var chunk = new char[4096];
        int n;
        while ((n = await r.ReadAsync(chunk, 0, chunk.Length).ConfigureAwait(false)) > 0)
            if (sb.Length < MaxErrorChars) sb.Append(chunk, 0, Math.Min(n, MaxErrorChars - sb.Length));
        return sb.ToString();
    }

    static void KillTree(Process p)
    {
        try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
        catch (Exception) { /* already gone */ }
    }

    /// <summary>Makes sure the child has exited and been waited for (no zombies), killing it if it is still running.</summary>
    static void Reap(Process p)
    {
        try
        {
            if (!p.HasExited)
            {
                KillTree(p);
                p.WaitForExit(5000);
            }
            else p.WaitForExit(); // collects the exit status and flushes async readers
        }
        catch (Exception) { /* nothing more we can do */ }
    }

    /// <summary>Children this thread started so far (tests count the runs a read costs).</summary>
    [ThreadStatic] internal static long StartedOnThisThread;

    /// <summary>Process id of the last child this thread started (tests check it was reaped).</summary>
    [ThreadStatic] internal static int LastStartedPid;

    /// <summary>True once this process got SIGINT/SIGTERM/SIGHUP/SIGQUIT. A terminal's Ctrl+C also reaches the children
    /// (same process group), so decodes failing from then on say "interrupted" (OperationCanceledException) instead of
    /// blaming their files — good files must not land in skipped.tsv because the user pressed Ctrl+C.</summary>
    public static bool Interrupted => LiveChildren.Interrupted;

    static void ThrowIfInterrupted()
    {
        if (LiveChildren.Interrupted) throw new OperationCanceledException("interrupted (Ctrl+C or a termination signal)");
    }

    /// <summary>
    /// Puts a child this process started by other means (e.g. an encoder fed through stdin) under the same care as the
    /// decoders: in the live-children registry (killed on Ctrl+C, SIGTERM and at exit) and killed when
    /// <paramref name="ct"/> is cancelled. Dispose after the child is reaped.
    /// </summary>
    public static IDisposable Track(Process p, CancellationToken ct = default)
    {
        LiveChildren.Add(p);
        var kill = ct.Register(() => KillTree(p));
        return new Tracking(p, kill);
    }

    sealed class Tracking(Process p, CancellationTokenRegistration kill) : IDisposable
    {
        public void Dispose()
        {
            kill.Dispose();
            LiveChildren.Remove(p);
        }
    }

    /// <summary>Number of ffmpeg/ffprobe children alive right now (for tests and diagnostics).</summary>
    public static int LiveCount => LiveChildren.Count;

    /// <summary>Children started by this process and not yet reaped; killed when the process is interrupted or exits.</summary>
    static class LiveChildren
    {
        static readonly ConcurrentDictionary<Process, byte> Set = new();
        static readonly List<PosixSignalRegistration> Signals = [];

        static LiveChildren()
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
            Console.CancelKeyPress += (_, _) => Interrupt();
            foreach (var sig in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
            {
                try { Signals.Add(PosixSignalRegistration.Create(sig, _ => Interrupt())); } // default action still runs
                catch (Exception) { /* signal not supported on this platform */ }
            }
        }

        public static int Count => Set.Count;
        public static void Add(Process p) => Set.TryAdd(p, 0);
        public static void Remove(Process p) => Set.TryRemove(p, out _);

        static volatile bool _interrupted;
        public static bool Interrupted => _interrupted;

        internal static void Interrupt()
        {
            _interrupted = true;
            KillAll();
        }

        static void KillAll()
        {
            foreach (var p in Set.Keys) KillTree(p);
        }
    }
}
