using System.Globalization;

namespace AvBert.Data.Sources;

/// <summary>
/// Kinetics-style CSV (label,youtube_id,time_start,time_end,split[,is_cc]) over a video folder (<c>videos=DIR</c>,
/// default: the CSV's folder). A row's video is found by file name anywhere under DIR: the trimmed clip
/// <c>ID_000010_000020.*</c> (used whole), or the untrimmed <c>ID.*</c> (then the item carries Start/End).
/// Rows of other splits are skipped when the CSV has a split column. Classes: the labels in ordinal order, or
/// <c>classes=FILE</c> (one name a line) to fix the list and keep only those rows — which is how Kinetics-Sounds is read
/// (<c>classes=kinetics_sounds</c>: the list shipped with the library). A listed class that no row has is an error.
/// <c>context=S</c> reads S seconds of an untrimmed video around each row's segment (the paper's 30-s pretraining clips).
/// </summary>
internal static class KineticsSource
{
    public static MediaSource Open(SourceSpec s, string split)
    {
        s.Allow("videos", "classes", "context");
        double? context = ContextSeconds(s);
        var csv = SourceFiles.RequireFile(s.Path, "Kinetics CSV");
        var videos = SourceFiles.RequireDirectory(s.Option("videos") ?? Path.GetDirectoryName(csv)!, "Kinetics video folder");
        var t = CsvTable.Read(csv, hasHeader: true);
        int cId = t.RequireColumn("YouTube id", "youtube_id"), cStart = t.RequireColumn("start second", "time_start"),
            cEnd = t.RequireColumn("end second", "time_end"), cLabel = t.Column("label"), cSplit = t.Column("split");

        var rows = new List<(int Line, string Label, string Id, double Start, double End)>();
        var labelsOfAllSplits = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (line, cells) in t.Rows)
        {
            if (cLabel >= 0 && cLabel < cells.Length) labelsOfAllSplits.Add(cells[cLabel].Trim());
            if (cSplit >= 0 && split != "all" && SplitName(t.Cell(line, cells, cSplit, "split")) != split) continue;
            var id = t.Cell(line, cells, cId, "youtube_id");
            if (!double.TryParse(t.Cell(line, cells, cStart, "time_start"), NumberStyles.Float, CultureInfo.InvariantCulture, out var start) ||
                !double.TryParse(t.Cell(line, cells, cEnd, "time_end"), NumberStyles.Float, CultureInfo.InvariantCulture, out var end) || end <= start)
                throw new SourceError($"{csv}:{line}: time_start/time_end must be numbers with start < end");
            rows.Add((line, cLabel >= 0 ? t.Cell(line, cells, cLabel, "label") : "", id, start, end));
        }

        if (cLabel >= 0 && rows.Any(r => r.Label.Length > 0) && rows.FirstOrDefault(r => r.Label.Length == 0) is { Id: not null } unlabeled)
            throw new SourceError($"{csv}:{unlabeled.Line}: the row has no label but other rows have one: add its label or remove the row");
        List<string> classes;
        if (s.Option("classes") is { } classFile)
        {
            classes = SourceFiles.ClassFile(classFile);
            CheckClassNames(classes, classFile, labelsOfAllSplits, csv);
            var keep = classes.ToHashSet(StringComparer.Ordinal);
            rows = rows.Where(r => keep.Contains(r.Label)).ToList();
        }
        else classes = cLabel < 0 ? [] : rows.Select(r => r.Label).Where(l => l.Length > 0).Distinct().Order(StringComparer.Ordinal).ToList();
        var index = classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);

        var byStem = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in SourceFiles.MediaFiles(videos)) byStem.TryAdd(Path.GetFileNameWithoutExtension(f), f);

        var items = new List<MediaItem>(rows.Count);
        foreach (var r in rows)
        {
            int[] labels = index.TryGetValue(r.Label, out int l) ? [l] : [];
            var clip = $"{r.Id}_{(long)r.Start:000000}_{(long)r.End:000000}";
            var item = byStem.TryGetValue(clip, out var trimmed) ? new MediaItem(trimmed, labels)
                     : byStem.TryGetValue(r.Id, out var full) ? Window(new MediaItem(full, labels, r.Start, r.End), context)
                     : new MediaItem(Path.Combine(videos, clip + ".mp4"), labels); // missing: reported by the loader
            items.Add(item with { Origin = $"{csv}:{r.Line}" });
        }
        return new MediaSource($"kinetics {Path.GetFileName(csv)} ({split})", items, classes, false) { Root = videos };
    }

    /// <summary><c>context=S</c>: the seconds of an untrimmed video read around each row's segment (the paper pretrains on
    /// 30-s clips around Kinetics' 10-s segments); null: the segment alone.</summary>
    static double? ContextSeconds(SourceSpec s)
    {
        if (s.Option("context") is not { } v) return null;
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds) || seconds <= 0)
            throw new SourceError($"option context={v} must be a number of seconds > 0 (e.g. context=30: the 30 s around each row's segment)");
        return seconds;
    }

    /// <summary>The item widened to <paramref name="context"/> seconds centred on its segment (never narrower than the
    /// segment). Near the video's start the window starts at 0 and keeps its length; near its end the reader cuts it at
    /// the video's end (the length is not known here).</summary>
    internal static MediaItem Window(MediaItem item, double? context)
    {
        if (context is not { } c || item.Start is not { } start || item.End is not { } end || c <= end - start) return item;
        double from = Math.Max(0, (start + end) / 2 - c / 2);
        return item with { Start = from, End = from + c };
    }

    /// <summary>Every class of a <c>classes=</c> list must be a label of the CSV (of any split): a misspelt name would
    /// otherwise keep no videos, silently. The error names the closest label.</summary>
    static void CheckClassNames(List<string> classes, string classFile, HashSet<string> labels, string csv)
    {
        if (labels.Count == 0) return; // no label column: nothing to filter by
        var list = File.Exists(classFile) ? classFile : $"the built-in list {classFile}";
        if (classes.Count == 0) throw new SourceError($"{list}: no class names");
        if (classes.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new SourceError($"{list}: class '{twice.Key}' is listed twice");
        foreach (var c in classes)
        {
            if (labels.Contains(c)) continue;
            var closest = labels.MinBy(l => EditDistance(l, c))!;
            throw new SourceError($"{list}: class '{c}' is not a label of {csv} (closest: '{closest}'). Fix: spell it as the CSV does, " +
                                  "or remove it from the list.");
        }
    }

    static int EditDistance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diag = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int up = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diag + (char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1));
                diag = up;
            }
        }
        return row[b.Length];
    }

    static string SplitName(string s) => s.Trim().ToLowerInvariant() switch
    {
        "validate" or "validation" or "valid" or "val" => "val",
        "training" => "train",
        var x => x,
    };
}
