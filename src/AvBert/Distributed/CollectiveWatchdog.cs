using System.Runtime.InteropServices;

namespace AvBert.Distributed;

/// <summary>
/// Ends this process when a watched piece of work (a training step with its collectives) takes longer than the
/// timeout: a rank that died without the launcher noticing, or one that hangs, would otherwise leave the others
/// waiting in a collective forever. Prints one line naming this rank and what it was waiting for, then exits at once
/// (<c>_exit</c>: no finalizers, no MPI) with <see cref="Runtime.ExitCodes.RankFailed"/>; the launcher then ends the
/// other ranks. The timeout is <c>AVBERT_COLLECTIVE_TIMEOUT</c> seconds (default 600).
/// </summary>
public sealed class CollectiveWatchdog : IDisposable
{
    [DllImport("libc.so.6", EntryPoint = "_exit")] static extern void Exit(int code);

    readonly int _rank;
    readonly Thread _thread;
    readonly CancellationTokenSource _stop = new();
    long _deadlineTicks = long.MaxValue;
    string _what = "";

    public TimeSpan Timeout { get; }

    public CollectiveWatchdog(int rank, TimeSpan timeout)
    {
        _rank = rank;
        Timeout = timeout;
        _thread = new Thread(Watch) { IsBackground = true, Name = "avbert-collective-watchdog" };
        _thread.Start();
    }

    public static TimeSpan TimeoutFromEnvironment() =>
        double.TryParse(Environment.GetEnvironmentVariable("AVBERT_COLLECTIVE_TIMEOUT"), System.Globalization.NumberStyles.Float,
                        System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0 ? TimeSpan.FromSeconds(s) : TimeSpan.FromMinutes(10);

    /// <summary>Starts watching <paramref name="what"/>; disposing the result stops watching it and goes back to what was
    /// watched before (scopes nest: a stretch watched inside another, e.g. a gather inside a checkpoint's checks, leaves
    /// the outer one watched when it ends — a collective after it must not wait unwatched).</summary>
    public IDisposable Watch(string what)
    {
        var outer = new Scope(this, _what, Interlocked.Read(ref _deadlineTicks));
        _what = what;
        Interlocked.Exchange(ref _deadlineTicks, DateTime.UtcNow.Ticks + Timeout.Ticks);
        return outer;
    }

    /// <summary>What is watched now (null: nothing). For tests.</summary>
    internal string? Watching => Interlocked.Read(ref _deadlineTicks) == long.MaxValue ? null : _what;

    /// <summary>What was watched before a scope began (nothing: <see cref="long.MaxValue"/>), restored when it ends.</summary>
    sealed class Scope(CollectiveWatchdog w, string what, long deadlineTicks) : IDisposable
    {
        public void Dispose()
        {
            w._what = what;
            Interlocked.Exchange(ref w._deadlineTicks, deadlineTicks);
        }
    }

    void Watch()
    {
        while (!_stop.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(1)))
        {
            if (DateTime.UtcNow.Ticks < Interlocked.Read(ref _deadlineTicks)) continue;
            Console.Error.WriteLine($"rank {_rank}: error: {_what} did not finish within {Timeout.TotalSeconds:0} s (AVBERT_COLLECTIVE_TIMEOUT): " +
                                    "another rank has died, hangs or is far slower; stopping this job. Fix: see the other ranks' error lines; " +
                                    "--resume continues from the last checkpoint.");
            Console.Error.Flush();
            Exit(Runtime.ExitCodes.RankFailed);
        }
    }

    public void Dispose() => _stop.Cancel();
}
