using System.Runtime.InteropServices;

namespace AvBert.Tests.Media;

/// <summary>
/// Runs code without the power to bypass file permissions. Tests run as root in CI, and root reads a chmod 000 file; on
/// Linux, capabilities are per thread, so a fresh thread drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (from its
/// effective, permitted and bounding sets: children it starts, ffmpeg included, cannot regain them) and the thread ends
/// afterwards. For a non-root user it simply runs the code.
/// </summary>
static class Unprivileged
{
    const int PrCapbsetDrop = 24, CapDacOverride = 1, CapDacReadSearch = 2;
    const uint CapabilityVersion3 = 0x20080522;

    [StructLayout(LayoutKind.Sequential)] struct CapHeader { public uint Version; public int Pid; }
    [StructLayout(LayoutKind.Sequential)] struct CapData { public uint Effective, Permitted, Inheritable; }

    [DllImport("libc", SetLastError = true)] static extern int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
    [DllImport("libc", SetLastError = true)] static extern int capget(ref CapHeader header, [Out] CapData[] data);
    [DllImport("libc", SetLastError = true)] static extern int capset(ref CapHeader header, CapData[] data);

    public static T Run<T>(Func<T> body)
    {
        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root" && geteuid() != 0) return body();
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                foreach (var cap in new[] { CapDacOverride, CapDacReadSearch })
                    if (prctl(PrCapbsetDrop, (ulong)cap, 0, 0, 0) != 0)
                        throw new InvalidOperationException($"prctl(PR_CAPBSET_DROP, {cap}) failed: errno {Marshal.GetLastPInvokeError()}");
                var header = new CapHeader { Version = CapabilityVersion3, Pid = 0 };
                var data = new CapData[2];
                if (capget(ref header, data) != 0) throw new InvalidOperationException($"capget failed: errno {Marshal.GetLastPInvokeError()}");
                uint mask = ~((1u << CapDacOverride) | (1u << CapDacReadSearch));
                data[0].Effective &= mask; data[0].Permitted &= mask; data[0].Inheritable &= mask;
                header = new CapHeader { Version = CapabilityVersion3, Pid = 0 };
                if (capset(ref header, data) != 0) throw new InvalidOperationException($"capset failed: errno {Marshal.GetLastPInvokeError()}");
                result = body();
            }
            catch (Exception e) { error = e; }
        });
        thread.Start();
        thread.Join();
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        return result;
    }

    [DllImport("libc")] static extern uint geteuid();
}
