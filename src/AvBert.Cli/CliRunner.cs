using AvBert.Runs;
using AvBert.Runtime;
using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;

namespace AvBert.Cli;

/// <summary>
/// Runs the parsed command. Every failure becomes one line on stderr and an exit code of <see cref="ExitCodes"/>, never a
/// stack trace (<see cref="ErrorReport"/>; an internal error's trace goes to the log file its line names).
/// Ctrl+C / SIGTERM cancel the token the long-running commands receive (they stop after the step in progress and write a
/// checkpoint; --resume continues); commands that take no token (inspect, forward, convert, params, ...) have nothing to
/// save and stop at once; a second signal always quits at once. Both exit with 130.
/// </summary>
public static class CliRunner
{
    /// <param name="needsTorch">Whether a (top-level) command needs <see cref="TorchRuntime.Initialize"/> before it runs.</param>
    public static int Run(RootCommand root, string[] args, Func<Command, bool> needsTorch)
    {
        // A command that uses libtorch runs in a supervised child, so that a native crash ends with one line (CrashSupervisor).
        var parsed = root.Parse(args);
        if (parsed.Errors.Count == 0 && parsed.Action is not HelpAction && TopLevel(parsed.CommandResult) is { } top && needsTorch(top) &&
            top.Name != ConvolutionProbe.Command && CrashSupervisor.Wanted)
            return CrashSupervisor.Run(args, top.Name);
        // [data parallel] under mpirun/srun: join the job; ranks other than 0 print only their error lines.
        return JobProcess.Run(() => RunCommand(parsed, needsTorch));
    }

    static int RunCommand(ParseResult parsed, Func<Command, bool> needsTorch)
    {
        using var stop = new CancellationTokenSource();
        // Only asynchronous actions are handed the token (SetAction((r, ct) => ...)); the others never look at it.
        bool observesToken = parsed.Action is AsynchronousCommandLineAction;
        int signals = 0;
        long firstSignal = 0;
        void OnSignal(PosixSignalContext s)
        {
            s.Cancel = true;
            // Ctrl+C reaches this process twice under the crash supervisor (from the terminal and passed on): once counts.
            if (signals > 0 && Environment.TickCount64 - Interlocked.Read(ref firstSignal) < 500) return;
            if (Interlocked.Increment(ref signals) == 1) Interlocked.Exchange(ref firstSignal, Environment.TickCount64);
            if (signals > 1 || !observesToken)
            {
                Console.Error.WriteLine("interrupted.");
                Environment.Exit(ExitCodes.Interrupted); // ProcessExit still kills FFmpeg children
            }
            Console.Error.WriteLine("stopping after the current step (signal again to quit at once)...");
            stop.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        // The library's own signal handling is off: ours above cancels the same token.
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        if (parsed.Errors.Count > 0)
        {
            // Bad arguments are a user error like any other: one line each, exit code 2.
            var name = "";
            for (var c = parsed.CommandResult; c.Command is not RootCommand; c = (CommandResult)c.Parent!) name = " " + c.Command.Name + name;
            foreach (var e in parsed.Errors) Console.Error.WriteLine($"error: {e.Message} Fix: see avbert{name} --help.");
            return ExitCodes.UserError;
        }
        try
        {
            if (parsed.Action is not HelpAction && TopLevel(parsed.CommandResult) is { } command && needsTorch(command))
            {
                CrashContext.Set($"running avbert {command.Name}");
                TorchRuntime.Initialize();
            }
            int rc = parsed.InvokeAsync(config, stop.Token).GetAwaiter().GetResult();
            return stop.IsCancellationRequested && rc == 0 ? ExitCodes.Interrupted : rc;
        }
        catch (Exception e)
        {
            var (code, line) = ErrorReport.Describe(e);
            Console.Error.WriteLine(JobProcess.RankPrefix + line);
            return code;
        }
    }

    static Command? TopLevel(CommandResult? result)
    {
        while (result?.Parent is CommandResult { Command: not RootCommand } parent) result = parent;
        return result?.Command is RootCommand ? null : result?.Command;
    }
}
