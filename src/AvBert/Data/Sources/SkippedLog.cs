using AvBert.Media;

namespace AvBert.Data.Sources;

/// <summary>One file left out of a run, and why.</summary>
public sealed record SkippedItem(string Path, string Reason);

/// <summary>
/// The files a run leaves out. Each is reported once: one line <c>skipped: PATH: REASON</c> on stderr and a row
/// <c>PATH&lt;TAB&gt;REASON</c> in <c>RUN/skipped.tsv</c> (with a header; a resumed run appends and does not repeat rows;
/// a fresh run in an existing folder starts a new list).
/// Thread-safe: loader workers report concurrently.
/// </summary>
public sealed class SkippedLog
{
    public const string FileName = "skipped.tsv";
    const string Header = "path\treason";

    readonly object _gate = new();
    readonly List<SkippedItem> _items = [];
    readonly HashSet<string> _paths = new(StringComparer.Ordinal);
    readonly TextWriter? _console;

    /// <summary>Writes to <c>runDirectory/skipped.tsv</c>; with a null directory only prints (and keeps the list).
    /// <paramref name="resume"/>: continue the list an earlier run of the folder wrote (its files are not tried again);
    /// otherwise an old list is removed, so a new run judges every file afresh.
    /// <paramref name="console"/> defaults to stderr; pass <see cref="TextWriter.Null"/> to stay quiet.</summary>
    public SkippedLog(string? runDirectory, TextWriter? console = null, bool resume = false)
    {
        _console = console ?? Console.Error;
        if (runDirectory is null) return;
        Directory.CreateDirectory(runDirectory);
        FilePath = Path.Combine(runDirectory, FileName);
        if (!resume) File.Delete(FilePath);
        else if (File.Exists(FilePath))
            foreach (var line in File.ReadLines(FilePath).Skip(1))
            {
                int tab = line.IndexOf('\t');
                if (tab <= 0) continue;
                var item = new SkippedItem(Unescape(line[..tab]), Unescape(line[(tab + 1)..]));
                if (_paths.Add(item.Path)) _items.Add(item);
            }
    }

    /// <summary>The TSV file, or null when this log only prints.</summary>
    public string? FilePath { get; }

    /// <summary>Records a skipped file. Returns false (and prints nothing) when the file was already reported.
    /// <paramref name="print"/> false: the TSV row only (the caller says it once for many files).</summary>
    public bool Report(string path, string reason, bool print = true)
    {
        reason = MediaError.OneLine(reason);
        lock (_gate)
        {
            if (!_paths.Add(path)) return false;
            _items.Add(new SkippedItem(path, reason));
            if (print) _console?.WriteLine($"skipped: {path}: {reason}");
            if (FilePath is not null)
            {
                // An append per skipped item (the log grows during the run), not an AtomicFile rewrite.
                bool fresh = !File.Exists(FilePath) || new FileInfo(FilePath).Length == 0;
                using var w = new StreamWriter(FilePath, append: true);
                if (fresh) w.WriteLine(Header);
                w.WriteLine($"{Escape(path)}\t{Escape(reason)}");
            }
            return true;
        }
    }

    /// <summary>Records a media error (its file and reason).</summary>
    public bool Report(MediaError error) => Report(error.Path, error.Reason);

    /// <summary>True when <paramref name="path"/> was reported (a loader need not try it again next epoch).</summary>
    public bool Contains(string path) { lock (_gate) return _paths.Contains(path); }

    public int Count { get { lock (_gate) return _items.Count; } }

    /// <summary>A snapshot of everything reported so far, in order.</summary>
    public IReadOnlyList<SkippedItem> Items { get { lock (_gate) return _items.ToArray(); } }

    /// <summary>"3 files skipped (2 × no audio stream, 1 × file not found), listed in RUN/skipped.tsv", or "no files skipped".</summary>
    public string Summary()
    {
        var items = Items;
        if (items.Count == 0) return "no files skipped";
        var reasons = items.GroupBy(i => ReasonKind(i.Reason)).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                           .Select(g => $"{g.Count()} × {g.Key}");
        return $"{items.Count} file{(items.Count == 1 ? "" : "s")} skipped ({string.Join(", ", reasons)})" +
               (FilePath is null ? "" : $", listed in {FilePath}");
    }

    /// <summary>The reason without its bracketed detail, to group similar reasons.</summary>
    static string ReasonKind(string reason)
    {
        int i = reason.IndexOf(" (", StringComparison.Ordinal);
        return i > 0 ? reason[..i] : reason;
    }

    static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\t", "\\t").Replace("\n", "\\n").Replace("\r", "\\r");

    static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new System.Text.StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 == s.Length) { sb.Append(s[i]); continue; }
            char c = s[++i];
            sb.Append(c switch { 't' => '\t', 'n' => '\n', 'r' => '\r', _ => c });
        }
        return sb.ToString();
    }
}
