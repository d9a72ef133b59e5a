using System.Diagnostics;

namespace AvBert.Runtime;

/// <summary>What this process holds in memory, for the benchmarks users run (`avbert bench ...`).</summary>
public static class ProcessMemory
{
    /// <summary>Peak resident memory of this process (Linux VmHWM; elsewhere the peak working set). Child processes
    /// (FFmpeg) are not included.</summary>
    public static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64;
    }
}
