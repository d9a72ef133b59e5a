using System.Globalization;
using AvBert.Media;

namespace AvBert.Data.Sources;

/// <summary>
/// AudioSet (Gemmeke et al. 2017): a segments CSV (<c>balanced_train_segments.csv</c>, <c>unbalanced_train_segments.csv</c>,
/// <c>eval_segments.csv</c>: three <c>#</c> comment lines, then <c>YTID, start_seconds, end_seconds, "mid,mid,..."</c>) and
/// the label index <c>class_labels_indices.csv</c> (<c>index,mid,display_name</c>; <c>labels=FILE</c>, default: beside the
/// CSV). Multi-label: an item's labels are its row's label ids, classes the display names in index order. Without a label
/// index the source is unlabeled (pretraining).
/// <para>Videos under <c>videos=DIR</c> (default: the CSV's folder), by the names downloaders write: the cut segment
/// <c>YTID_START_END.*</c> (START/END as in the CSV, whole seconds, zero-padded to 6 digits, one decimal, or milliseconds)
/// or <c>YYTID.*</c> is used whole; the full video <c>YTID.*</c> is read from start_seconds to end_seconds
/// (<c>trimmed=true</c>: bare <c>YTID.*</c> files are the cut segments too). A row's file that is not there is left out
/// and counted (AudioSet downloads are never complete).</para>
/// The file is the split (train or eval): it serves whichever split is asked; give <c>eval_segments.csv</c> as the test
/// data (<c>--test-data</c>) for the official evaluation set.
/// </summary>
internal static class AudioSetSource
{
    public const string DefaultLabelIndex = "class_labels_indices.csv";

    public static MediaSource Open(SourceSpec s, string split)
    {
        s.Allow("labels", "videos", "trimmed");
        var csv = SourceFiles.RequireFile(s.Path, "AudioSet segments CSV");
        var dir = Path.GetDirectoryName(Path.GetFullPath(csv))!;
        var videos = Path.GetFullPath(SourceFiles.RequireDirectory(s.Option("videos") ?? dir, "AudioSet video folder"));
        bool trimmed = s.Option("trimmed") switch
        {
            null or "false" => false,
            "true" => true,
            var v => throw new SourceError($"option trimmed={v} must be true or false"),
        };
        var labelFile = s.Option("labels") ?? Path.Combine(dir, DefaultLabelIndex);
        if (s.Option("labels") is null && !File.Exists(labelFile)) labelFile = null;
        var (mids, names) = labelFile is null ? (new Dictionary<string, int>(), new List<string>()) : ReadLabelIndex(labelFile);

        var table = CsvTable.Read(csv, hasHeader: false);
        var rows = new List<Segment>(table.Rows.Count);
        foreach (var (line, cells) in table.Rows)
        {
            if (rows.Count == 0 && cells[0].Trim().Equals("YTID", StringComparison.OrdinalIgnoreCase)) continue; // an uncommented header
            rows.Add(ParseRow(csv, line, cells, labelFile, mids));
        }

        var byStem = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in SourceFiles.MediaFiles(videos)) byStem.TryAdd(Path.GetFileNameWithoutExtension(f), f);
        var items = new List<MediaItem>(rows.Count);
        (string Path, Segment Row)? firstFull = null;
        foreach (var r in rows)
        {
            MediaItem item;
            if (CutStems(r).Select(k => byStem.GetValueOrDefault(k)).FirstOrDefault(p => p is not null) is { } cut)
                item = new MediaItem(cut, r.Labels);
            else if (byStem.TryGetValue(r.Id, out var bare))
            {
                item = trimmed ? new MediaItem(bare, r.Labels) : new MediaItem(bare, r.Labels, r.Start, r.End);
                if (!trimmed) firstFull ??= (bare, r);
            }
            else item = new MediaItem(Path.Combine(videos, r.Id + ".mp4"), r.Labels); // missing: counted and reported by the loader
            items.Add(item with { Origin = $"{csv}:{r.Line}" });
        }
        if (firstFull is { } full) CheckFullVideo(full.Path, full.Row, csv);
        return new MediaSource($"audioset {Path.GetFileName(csv)}", items, names, MultiLabel: labelFile is not null) { Root = videos };
    }

    sealed record Segment(int Line, string Id, string StartText, string EndText, double Start, double End, int[] Labels);

    static Segment ParseRow(string csv, int line, string[] cells, string? labelFile, Dictionary<string, int> mids)
    {
        // Official rows quote the label list; an unquoted one ("a, 0, 10, /m/x,/m/y") arrives as more cells: rejoin them.
        if (cells.Length < 4)
            throw new SourceError($"{csv}:{line}: expected 'YTID, start_seconds, end_seconds, \"label,label,...\"', found {cells.Length} field(s)");
        var id = cells[0].Trim();
        if (id.Length == 0 || id.Any(char.IsWhiteSpace) || id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new SourceError($"{csv}:{line}: '{id}' is not a YouTube id");
        string startText = cells[1].Trim(), endText = cells[2].Trim();
        if (!double.TryParse(startText, NumberStyles.Float, CultureInfo.InvariantCulture, out var start) ||
            !double.TryParse(endText, NumberStyles.Float, CultureInfo.InvariantCulture, out var end) ||
            !double.IsFinite(start) || !double.IsFinite(end) || start < 0 || end <= start)
            throw new SourceError($"{csv}:{line}: start_seconds '{startText}' and end_seconds '{endText}' must be numbers with 0 <= start < end");
        var ids = string.Join(',', cells[3..]).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(x => x.Trim('"').Trim()).Where(x => x.Length > 0).ToArray();
        int[] labels = [];
        if (labelFile is not null)
        {
            if (ids.Length == 0) throw new SourceError($"{csv}:{line}: the segment has no label ids (positive_labels is empty)");
            labels = ids.Select(m => mids.TryGetValue(m, out var l) ? l
                : throw new SourceError($"{csv}:{line}: label id '{m}' is not in {labelFile} ({mids.Count} classes): use the label index of the same " +
                                        "AudioSet release as the segments file")).Distinct().Order().ToArray();
        }
        return new Segment(line, id, startText, endText, start, end, labels);
    }

    /// <summary>The label index: mid → class index, and the display names in index order (indices must be 0..N−1).</summary>
    static (Dictionary<string, int> Mids, List<string> Names) ReadLabelIndex(string file)
    {
        var t = CsvTable.Read(SourceFiles.RequireFile(file, "AudioSet label index (index,mid,display_name)"), hasHeader: true);
        int cIndex = t.RequireColumn("class index", "index"), cMid = t.RequireColumn("label id", "mid"),
            cName = t.RequireColumn("class name", "display_name");
        var byIndex = new SortedDictionary<int, (string Mid, string Name)>();
        var mids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (line, cells) in t.Rows)
        {
            var text = t.Cell(line, cells, cIndex, "index");
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                throw new SourceError($"{file}:{line}: index '{text}' must be a whole number");
            var mid = t.Cell(line, cells, cMid, "mid");
            if (mid.Length == 0) throw new SourceError($"{file}:{line}: empty mid");
            if (!byIndex.TryAdd(index, (mid, t.Cell(line, cells, cName, "display_name"))))
                throw new SourceError($"{file}:{line}: index {index} appears twice");
            if (!mids.TryAdd(mid, index)) throw new SourceError($"{file}:{line}: label id '{mid}' appears twice");
        }
        if (byIndex.Count == 0) throw new SourceError($"{file}: no classes");
        if (byIndex.Keys.Last() != byIndex.Count - 1)
            throw new SourceError($"{file}: the indices must be 0..{byIndex.Count - 1} (one per class), but the largest is {byIndex.Keys.Last()}");
        return (mids, byIndex.Values.Select(v => v.Name).ToList());
    }

    /// <summary>File names (without extension) a downloader gives the cut segment of a row.</summary>
    static IEnumerable<string> CutStems(Segment r)
    {
        var inv = CultureInfo.InvariantCulture;
        string[] Both(Func<double, string> f) => [f(r.Start), f(r.End)];
        var spellings = new[]
        {
            [r.StartText, r.EndText],                                     // as in the CSV: 30.000_40.000
            Both(x => ((long)Math.Round(x)).ToString(inv)),               // whole seconds: 30_40
            Both(x => ((long)Math.Round(x)).ToString("000000", inv)),     // Kinetics style: 000030_000040
            Both(x => x.ToString("0.0##", inv)),                          // Python's float: 30.0_40.0
            Both(x => ((long)Math.Round(x * 1000)).ToString(inv)),        // milliseconds: 30000_40000
        };
        return spellings.Select(p => $"{r.Id}_{p[0]}_{p[1]}").Append("Y" + r.Id).Distinct();
    }

    /// <summary>A bare <c>YTID.*</c> file is read as the full video. One probe of the first such file catches cut segments
    /// named that way: its segment would start after its end.</summary>
    static void CheckFullVideo(string path, Segment row, string csv)
    {
        MediaInfo info;
        try { info = MediaProbe.Probe(path); }
        catch (MediaError) { return; } // an unreadable file is the loader's to report
        if (info.DurationSeconds > 0 && row.Start >= info.DurationSeconds)
            throw new SourceError($"{csv}:{row.Line}: {path} lasts {info.DurationSeconds:0.0} s, but its segment is {row.StartText}–{row.EndText} s: " +
                                  "the files seem to be the cut segments. Fix: add trimmed=true to the source spec.");
    }
}
