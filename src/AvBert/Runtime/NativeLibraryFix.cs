using System.Text;

namespace AvBert.Runtime;

/// <summary>
/// TorchSharp 0.107's libLibTorchSharp.so declares a need for GLIBCXX_3.4.32 (GCC 13), although the only symbol at
/// that version (<c>std::ios_base_library_init()</c>) is never bound. Debian 12, Ubuntu 22.04 and RHEL 8/9 ship an
/// older libstdc++, so the loader refuses the library and every torch call fails with a misleading message.
/// Marking that version need weak makes the loader accept it. This runs before the first torch call, edits the copy of
/// the library next to our assemblies (never the NuGet cache), is idempotent, and does nothing where libstdc++ is new enough.
/// </summary>
public static class NativeLibraryFix
{
    public const string LibraryName = "libLibTorchSharp.so";
    public const string MissingVersion = "GLIBCXX_3.4.32";
    static readonly object Gate = new();
    static bool _done;

    /// <summary>What the last call did, for diagnostics and tests.</summary>
    public static string Outcome { get; private set; } = "not run";

    public static void Apply()
    {
        lock (Gate)
        {
            if (_done) return;
            _done = true;
            if (!OperatingSystem.IsLinux()) { Outcome = "not Linux: nothing to do"; return; }
            var lib = FindTorchSharpNative();
            if (lib is null) { Outcome = $"{LibraryName} not found next to the application: nothing to do"; return; }
            if (SystemLibStdCxxHas(MissingVersion)) { Outcome = $"system libstdc++ provides {MissingVersion}: nothing to do"; return; }
            try
            {
                int changed = ElfVersionNeeds.MarkWeak(lib, MissingVersion);
                Outcome = changed > 0 ? $"marked {MissingVersion} weak in {lib}" : $"{lib} already patched";
            }
            catch (UnauthorizedAccessException)
            {
                throw new InvalidOperationException(
                    $"{lib} needs {MissingVersion}, which this system's libstdc++ lacks, and the file is read-only. " +
                    "Fix: make the build output writable (or run ./avbert once as its owner) so AVBERT.NET can patch it.");
            }
        }
    }

    /// <summary>The libLibTorchSharp.so that TorchSharp will load: next to our assemblies (RID-specific build).</summary>
    public static string? FindTorchSharpNative()
    {
        var dirs = new List<string> { AppContext.BaseDirectory };
#pragma warning disable IL3000 // empty in a single-file app: AppContext.BaseDirectory covers that case
        var torchDir = Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location);
#pragma warning restore IL3000
        if (!string.IsNullOrEmpty(torchDir)) dirs.Add(torchDir);
        foreach (var d in dirs.Distinct())
        {
            foreach (var candidate in new[] { Path.Combine(d, LibraryName), Path.Combine(d, "runtimes", "linux-x64", "native", LibraryName) })
                if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>True when the libstdc++.so.6 the loader would pick defines <paramref name="version"/>.</summary>
    public static bool SystemLibStdCxxHas(string version)
    {
        var path = FindLibStdCxx();
        if (path is null) return false;
        var needle = Encoding.ASCII.GetBytes(version + "\0");
        var bytes = File.ReadAllBytes(path);
        return bytes.AsSpan().IndexOf(needle) >= 0;
    }

    static string? FindLibStdCxx()
    {
        // Already mapped into this process (the .NET host links libstdc++)?
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int i = line.IndexOf('/');
                if (i >= 0 && line.Contains("libstdc++.so.6")) return line[i..].Trim();
            }
        }
        catch (IOException) { }
        foreach (var p in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/libstdc++.so.6" })
            if (File.Exists(p)) return p;
        return null;
    }
}
