using System.Diagnostics;
using System.Runtime.InteropServices;
using AvBert.Runtime;

namespace AvBert.Cli;

/// <summary>
/// A native crash inside libtorch (SIGFPE, SIGSEGV, SIGABRT, ...) cannot be caught in the process it kills. So a command
/// that uses libtorch runs in a child process of the CLI (the same program and arguments, AVBERT_SUPERVISED=1), and
/// this parent waits for it: the child's output and exit code pass through unchanged, and if it dies of a signal the
/// parent prints one line naming the signal, what was running (<see cref="CrashContext"/>) and what to try, and exits
/// with <see cref="ExitCodes.NativeCrash"/> (docs/errors-and-exit-codes.md). Checkpoints written before stay intact: they
/// are written atomically. SIGINT, SIGTERM and SIGHUP sent to the parent are passed on to the child, which stops as it
/// would alone (a signal that reaches both, as Ctrl+C does, counts once).
/// </summary>
public static class CrashSupervisor
{
    public const string Variable = "AVBERT_SUPERVISED";

    /// <summary>This process is not the supervised child, and supervision is possible (the CLI can be started again).</summary>
    public static bool Wanted =>
        Environment.GetEnvironmentVariable(Variable) is not ("1" or "off") && CliProcess.Host is not null && OperatingSystem.IsLinux() &&
        // Not for a rank of an mpirun/srun job: the launcher must see the rank's own process (MPI_Init of a grandchild of
        // orted fails), and a rank that dies is reported by the job itself (exit code 6, naming the rank).
        !CliProcess.UnderLauncher;

    public static int Run(string[] args, string command)
    {
        var activity = Path.Combine(Path.GetTempPath(), $"avbert-activity-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var psi = CliProcess.StartInfo(args, redirect: false, leaveJob: false);
        psi.Environment[Variable] = "1";
        psi.Environment[CrashContext.FileVariable] = activity;
        try
        {
            using var child = Process.Start(psi)!;
            void Forward(PosixSignalContext s)
            {
                s.Cancel = true; // the parent waits for the child, whatever the signal
                try { if (!child.HasExited) NativeSignals.Send(child.Id, SignalNumber(s.Signal)); }
                catch (InvalidOperationException) { }
            }
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Forward);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Forward);
            using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Forward);
            child.WaitForExit();
            int code = child.ExitCode;
            if (code <= 128 || code > 128 + 64) return code;
            int signal = code - 128;
            if (!NativeSignals.IsCrash(signal) && signal != NativeSignals.Kill) return code;
            string doing = File.Exists(activity) ? File.ReadAllText(activity).Trim() : "";
            Console.Error.WriteLine(Line(command, signal, doing));
            return NativeSignals.IsCrash(signal) ? ExitCodes.NativeCrash : ExitCodes.OutOfResources;
        }
        finally { foreach (var f in new[] { activity, activity + ".new" }) try { File.Delete(f); } catch (IOException) { } }
    }

    /// <summary>The one line for a child that died of <paramref name="signal"/> while doing <paramref name="doing"/>.</summary>
    public static string Line(string command, int signal, string doing)
    {
        string what = doing.Length > 0 ? doing : $"avbert {command}";
        if (signal == NativeSignals.Kill)
            return $"error: avbert {command} was killed by SIGKILL while {what} (most often the kernel's out-of-memory killer: " +
                   "lower --batch or the clip size; `dmesg` says). Checkpoints written before it are intact: --resume continues.";
        return $"error: avbert {command} died of {NativeSignals.Name(signal)} inside libtorch while {what}. " +
               "Checkpoints written before it are intact (--resume continues). Try: AVBERT_CONV_CHECK=force to re-check this CPU's " +
               "convolutions, ONEDNN_MAX_CPU_ISA=SSE41, or --device cuda (docs/cpu-correctness.md).";
    }

    static int SignalNumber(PosixSignal s) => s switch
    {
        PosixSignal.SIGINT => 2,
        PosixSignal.SIGHUP => 1,
        _ => NativeSignals.Term,
    };
}
