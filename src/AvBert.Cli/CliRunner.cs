using AvBert.Distributed;
using AvBert.Runtime;
using System.CommandLine;
using System.Runtime.InteropServices;

namespace AvBert.Cli;

/// <summary>
/// Runs the parsed command. User errors become one line on stderr and the exit code of <see cref="ExitCodes"/>, never a stack trace.
/// Ctrl+C / SIGTERM cancel the token every action receives (long runs stop after the step in progress and write a
/// checkpoint; --resume continues); a second signal quits at once.
/// </summary>
public static class CliRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        int rc = ExitCodes.Internal;
        try
        {
            // [data parallel] under mpirun/srun: join the job; ranks other than 0 print only their error lines.
            if (DataParallel.StartFromEnvironment() is { Rank: > 0 }) Console.SetOut(TextWriter.Null);
            return rc = RunCommand(root, args);
        }
        catch (DistributedError e)
        {
            Console.Error.WriteLine($"{DataParallel.RankPrefix}error: {e.Message}");
            return rc = e.ExitCode;
        }
        finally { DataParallel.Finish(rc == ExitCodes.Ok); }
    }

    static int RunCommand(RootCommand root, string[] args)
    {
        using var stop = new CancellationTokenSource();
        int signals = 0;
        void OnSignal(PosixSignalContext s)
        {
            if (Interlocked.Increment(ref signals) > 1) return; // second signal: the default action (terminate)
            s.Cancel = true;
            Console.Error.WriteLine("stopping after the current step (signal again to quit at once)...");
            stop.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        // The library's own signal handling is off: ours above cancels the same token.
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        try
        {
            int rc = root.Parse(args).InvokeAsync(config, stop.Token).GetAwaiter().GetResult();
            return stop.IsCancellationRequested && rc == 0 ? ExitCodes.Interrupted : rc;
        }
        catch (Exception e) when (Unwrap(e) is UserError ue)
        {
            Console.Error.WriteLine($"{DataParallel.RankPrefix}error: {ue.Message}");
            return ue.ExitCode;
        }
        catch (Exception e) when (Unwrap(e) is OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled.");
            return ExitCodes.Interrupted;
        }
    }

    static Exception Unwrap(Exception e)
    {
        while (e is AggregateException or System.Reflection.TargetInvocationException or TypeInitializationException && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }
}
