namespace AvBert.Runtime;

/// <summary>
/// The process exit codes of every command (docs/errors-and-exit-codes.md). One table, used by the CLI and by scripts.
/// </summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Ok = 0;
    /// <summary>An unexpected internal failure (a bug): one line on stderr, details in the log.</summary>
    public const int Internal = 1;
    /// <summary>A user error: bad arguments, config, data, model or weights files.</summary>
    public const int UserError = 2;
    /// <summary>`forward` ran but its outputs differ from the reference outputs beyond the tolerance.</summary>
    public const int ParityMismatch = 3;
    /// <summary>The machine ran out of a resource: disk full, out of memory.</summary>
    public const int OutOfResources = 4;
    /// <summary>Training stopped: a loss or gradient became non-finite (the run folder keeps the last good checkpoint).</summary>
    public const int Diverged = 5;
    /// <summary>A multi-process (mpirun/srun) job stopped: a rank died or failed, or a collective timed out (the message names the rank).</summary>
    public const int RankFailed = 6;
    /// <summary>The command's process died of a signal inside native code (SIGFPE, SIGSEGV, SIGABRT, SIGILL, SIGBUS): one line
    /// names the signal and what was running (checkpoints written before it are intact).</summary>
    public const int NativeCrash = 7;
    /// <summary>Stopped by Ctrl+C or SIGTERM (long runs write a checkpoint first; --resume continues).</summary>
    public const int Interrupted = 130;
}

/// <summary>
/// An error the user caused and can fix (bad config, missing file, wrong device). The CLI prints its message as
/// one line and exits with <see cref="ExitCode"/> (2 unless a subclass says otherwise), without a stack trace.
/// Messages say what, where, and how to fix.
/// </summary>
public class UserError(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The process exit code the CLI returns for this error (<see cref="ExitCodes"/>).</summary>
    public virtual int ExitCode => ExitCodes.UserError;
}
