using System.Globalization;

namespace AvBert.Data.Sources;

/// <summary>
/// A generic CSV (or TSV) of path and label(s). With a header, columns are found by name: path (or file, filename,
/// video), label (or labels, class), and optional start, end, split, fold. Without one: path, then label.
/// Several labels in one cell are separated by ';' or '|' (multi-label). Paths are relative to the CSV's folder
/// (or <c>root=DIR</c>). Classes: the labels in ordinal order — or, when every label is a whole number, the numbers
/// themselves are the indices (classes "0".."max") — or <c>classes=FILE</c> (one name a line, in label order).
/// </summary>
internal static class CsvSource
{
    static readonly string[] PathColumns = ["path", "file", "filename", "video", "audio"];
    static readonly string[] LabelColumns = ["label", "labels", "class", "classes"];

    public static MediaSource Open(SourceSpec s, string split)
    {
        s.Allow("root", "classes");
        var csv = SourceFiles.RequireFile(s.Path, "CSV file");
        var root = s.Option("root") ?? Path.GetDirectoryName(csv)!;
        var t = CsvTable.Read(csv, looksLikeHeader: first => first.Any(c => PathColumns.Contains(c.Trim().ToLowerInvariant())));
        int cPath = t.Header is null ? 0 : t.RequireColumn("media path", PathColumns);
        int cLabel = t.Header is null ? 1 : t.Column(LabelColumns);
        int cStart = t.Column("start"), cEnd = t.Column("end"), cSplit = t.Column("split"), cFold = t.Column("fold");

        var rows = new List<(string Path, string[] Labels, double? Start, double? End, int? Fold)>();
        foreach (var (line, cells) in t.Rows)
        {
            if (cSplit >= 0 && split != "all" && !SplitMatches(t.Cell(line, cells, cSplit, "split"), split)) continue;
            var labels = cLabel >= 0 && cLabel < cells.Length
                ? cells[cLabel].Split([';', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
            rows.Add((SourceFiles.Resolve(root, t.Cell(line, cells, cPath, "path")), labels,
                      Number(t, line, cells, cStart, "start"), Number(t, line, cells, cEnd, "end"),
                      cFold >= 0 && int.TryParse(t.Cell(line, cells, cFold, "fold"), out int f) ? f : null));
        }

        var all = rows.SelectMany(r => r.Labels).Distinct().ToList();
        List<string> classes;
        Func<string, int> indexOf;
        if (s.Option("classes") is { } classFile)
        {
            classes = SourceFiles.ClassFile(classFile);
            var index = classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
            indexOf = l => index.TryGetValue(l, out int i) ? i : throw new SourceError($"{csv}: label '{l}' is not in {classFile}");
        }
        else if (all.Count > 0 && all.All(l => int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
        {
            int max = all.Max(l => int.Parse(l, CultureInfo.InvariantCulture));
            classes = Enumerable.Range(0, max + 1).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
            indexOf = l => int.Parse(l, CultureInfo.InvariantCulture);
        }
        else
        {
            classes = all.Order(StringComparer.Ordinal).ToList();
            var index = classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
            indexOf = l => index[l];
        }
        var items = rows.Select(r => new MediaItem(r.Path, r.Labels.Select(indexOf).Distinct().Order().ToArray(), r.Start, r.End, r.Fold)).ToList();
        bool multi = rows.Any(r => r.Labels.Length > 1);
        return new MediaSource($"csv {Path.GetFileName(csv)} ({split})", items, classes, multi);
    }

    static bool SplitMatches(string cell, string split)
    {
        var c = cell.Trim().ToLowerInvariant();
        return c == split || (split == "val" && c is "validate" or "validation" or "valid") || (split == "train" && c == "training");
    }

    static double? Number(CsvTable t, int line, string[] cells, int column, string what)
    {
        if (column < 0 || column >= cells.Length || cells[column].Trim().Length == 0) return null;
        return double.TryParse(cells[column], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
            : throw new SourceError($"{t.File}:{line}: {what} \"{cells[column]}\" is not a number of seconds");
    }
}
