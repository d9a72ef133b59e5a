namespace AvBert.Storage;

/// <summary>
/// One process at a time through a gate: an exclusive lock on a lock file (FileShare.None, which .NET takes with an
/// advisory flock on Linux, released by the kernel when the process dies, so a killed job never leaves the gate shut).
/// Another process waits, saying once why.
/// </summary>
public sealed class FileGate : IDisposable
{
    readonly FileStream _lock;
    FileGate(FileStream stream) => _lock = stream;

    /// <summary>Holds the gate at <paramref name="path"/> until disposed; waits (checking <paramref name="ct"/>) while another
    /// process holds it, after one line on <paramref name="log"/>: "waiting: <paramref name="why"/>".</summary>
    public static FileGate Acquire(string path, string why, TextWriter log, CancellationToken ct = default)
    {
        bool said = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try { return new FileGate(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)); }
            catch (IOException e) when (!AtomicFile.IsDiskFull(e))
            {
                if (!said) log.WriteLine($"waiting: {why}");
                said = true;
                ct.WaitHandle.WaitOne(500);
            }
        }
    }

    public void Dispose() => _lock.Dispose();
}
