using System.Globalization;

namespace AvBert.Data.Sources;

/// <summary>
/// A generic CSV (or TSV) of path and label(s). With a header, columns are found by name: path (or file, filename,
/// video), label (or labels, class), and optional start, end, split, fold. Without one: path, then label.
/// Several labels in one cell are separated by ';' or '|' (multi-label). Paths are relative to the CSV's folder
/// (or <c>root=DIR</c>). Every row of a labelled CSV needs a label. Classes (from the rows of every split): the labels
/// in ordinal order — or, when every label is a whole number, the numbers themselves are the indices (classes "0".."max";
/// a stray large number is an error, not a hundred thousand empty classes) — or <c>classes=FILE</c> (one name a line,
/// in label order).
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

        // Classes come from the rows of every split, so that a label has the same index in train and test.
        var rows = new List<(int Line, bool InSplit, string Path, string[] Labels, double? Start, double? End, int? Fold)>();
        foreach (var (line, cells) in t.Rows)
        {
            bool inSplit = cSplit < 0 || split == "all" || SplitMatches(t.Cell(line, cells, cSplit, "split"), split);
            var labels = cLabel >= 0 && cLabel < cells.Length
                ? cells[cLabel].Split([';', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
            rows.Add((line, inSplit, SourceFiles.Resolve(root, t.Cell(line, cells, cPath, "path")), labels,
                      Number(t, line, cells, cStart, "start"), Number(t, line, cells, cEnd, "end"),
                      cFold >= 0 && int.TryParse(t.Cell(line, cells, cFold, "fold"), out int f) ? f : null));
        }
        if (rows.Any(r => r.Labels.Length > 0) && rows.FirstOrDefault(r => r.Labels.Length == 0) is { Path: not null } unlabeled)
            throw new SourceError($"{csv}:{unlabeled.Line}: the row has no label but other rows have one: add its label or remove the row");

        var all = rows.SelectMany(r => r.Labels).Distinct().ToList();
        List<string> classes;
        Func<string, int> indexOf;
        if (s.Option("classes") is { } classFile)
        {
            classes = SourceFiles.ClassFile(classFile);
            var index = classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
            if (rows.SelectMany(r => r.Labels.Select(l => (r.Line, Label: l))).FirstOrDefault(x => !index.ContainsKey(x.Label)) is { Label: not null } bad)
                throw new SourceError($"{csv}:{bad.Line}: label '{bad.Label}' is not in {classFile}");
            indexOf = l => index[l];
        }
        else if (all.Count > 0 && all.All(l => int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
        {
            int max = all.Max(l => int.Parse(l, CultureInfo.InvariantCulture));
            if ((long)max + 1 > MaxUnusedIndexFactor * all.Count + 10)
            {
                var (line, label) = rows.SelectMany(r => r.Labels.Select(l => (r.Line, l))).First(x => int.Parse(x.l, CultureInfo.InvariantCulture) == max);
                throw new SourceError($"{csv}:{line}: label {label} is a class index, so it would make {(long)max + 1} classes, but only {all.Count} " +
                                      $"different labels appear: fix the row, or give the class list with classes=FILE");
            }
            classes = Enumerable.Range(0, max + 1).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
            indexOf = l => int.Parse(l, CultureInfo.InvariantCulture);
        }
        else
        {
            classes = all.Order(StringComparer.Ordinal).ToList();
            var index = classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
            indexOf = l => index[l];
        }
        var items = rows.Where(r => r.InSplit)
                        .Select(r => new MediaItem(r.Path, r.Labels.Select(indexOf).Distinct().Order().ToArray(), r.Start, r.End, r.Fold)
                                     { Origin = $"{csv}:{r.Line}" }).ToList();
        bool multi = rows.Any(r => r.Labels.Length > 1);
        return new MediaSource($"csv {Path.GetFileName(csv)} ({split})", items, classes, multi) { Root = Path.GetFullPath(root) };
    }

    /// <summary>Whole-number labels are class indices; at most about half of the indices they imply may go unused
    /// (the implied class count may not exceed this factor times the labels seen, plus 10), so a stray 100000 is an error.</summary>
    const int MaxUnusedIndexFactor = 2;

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
