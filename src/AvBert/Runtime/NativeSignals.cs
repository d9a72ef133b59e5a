using System.Runtime.InteropServices;

namespace AvBert.Runtime;

/// <summary>The Linux signals a native crash or a kill ends a process with, by number (x86-64), and libc's raise/kill.</summary>
public static class NativeSignals
{
    public const int Ill = 4, Abrt = 6, Bus = 7, Fpe = 8, Kill = 9, Segv = 11, Term = 15;

    /// <summary>"SIGFPE (an arithmetic fault, e.g. an integer division by zero)" and the like; null for a number not listed.</summary>
    public static string? Name(int signal) => signal switch
    {
        Ill => "SIGILL (an illegal instruction)",
        Abrt => "SIGABRT (aborted by native code)",
        Bus => "SIGBUS (a bus error)",
        Fpe => "SIGFPE (an arithmetic fault: integer division by zero in native code)",
        Kill => "SIGKILL (killed: the kernel's out-of-memory killer, or kill -9)",
        Segv => "SIGSEGV (a segmentation fault in native code)",
        Term => "SIGTERM",
        _ => null,
    };

    /// <summary>A signal that means the process crashed inside native code (not a kill or a stop request).</summary>
    public static bool IsCrash(int signal) => signal is Ill or Abrt or Bus or Fpe or Segv;

    [DllImport("libc", SetLastError = true)] static extern int kill(int pid, int sig);
    [DllImport("libc", SetLastError = true)] static extern IntPtr signal(int sig, IntPtr handler);
    [DllImport("libc", SetLastError = true)] static extern int getpid();

    /// <summary>Ends this process with <paramref name="sig"/> as a native crash would: the default action, not the .NET
    /// runtime's handler (which turns faults in managed code into exceptions and ignores a sent SIGFPE).</summary>
    public static void Raise(int sig)
    {
        signal(sig, IntPtr.Zero); // SIG_DFL
        kill(getpid(), sig);
        Thread.Sleep(Timeout.Infinite);
    }

    /// <summary>Sends <paramref name="signal"/> to another process; false when it is gone.</summary>
    public static bool Send(int pid, int signal) => kill(pid, signal) == 0;
}
