namespace AvBert.Data.Sources;

/// <summary>
/// ESC-50: <c>meta/esc50.csv</c> (filename,fold,target,category,esc10,src_file,take) and <c>audio/*.wav</c>.
/// <c>fold=1..5</c> is the held-out fold: split "test" (or "val") is that fold, "train" the other four, "all" all five.
/// Classes are ordered by target. <c>esc10=true</c> keeps the ESC-10 subset (relabelled 0..9 in target order).
/// </summary>
internal static class Esc50Source
{
    public static MediaSource Open(SourceSpec s, string split)
    {
        s.Allow("fold", "esc10", "audio");
        string root, meta;
        if (File.Exists(s.Path)) { meta = Path.GetFullPath(s.Path); root = Path.GetDirectoryName(Path.GetDirectoryName(meta)!)!; }
        else { root = SourceFiles.RequireDirectory(s.Path, "ESC-50 root"); meta = SourceFiles.RequireFile(Path.Combine(root, "meta", "esc50.csv"), "ESC-50 meta/esc50.csv"); }
        var audio = s.Option("audio") ?? Path.Combine(root, "audio");
        int fold = s.IntOption("fold", 1);
        if (fold is < 1 or > 5) throw new SourceError($"ESC-50 fold={fold}: folds are 1 to 5");
        bool esc10 = s.Option("esc10") is { } e && (e.Equals("true", StringComparison.OrdinalIgnoreCase) || e == "1");

        var t = CsvTable.Read(meta, hasHeader: true);
        int cFile = t.RequireColumn("file name", "filename"), cFold = t.RequireColumn("fold", "fold"),
            cTarget = t.RequireColumn("class index", "target"), cCat = t.RequireColumn("class name", "category"), cEsc10 = t.Column("esc10");
        if (esc10 && cEsc10 < 0) throw new SourceError($"{meta}: esc10=true but there is no esc10 column");

        var rows = new List<(int Line, string File, int Fold, int Target)>();
        var names = new SortedDictionary<int, string>();
        foreach (var (line, cells) in t.Rows)
        {
            if (esc10 && !t.Cell(line, cells, cEsc10, "esc10").Equals("true", StringComparison.OrdinalIgnoreCase)) continue;
            if (!int.TryParse(t.Cell(line, cells, cFold, "fold"), out int f) || f < 1)
                throw new SourceError($"{meta}:{line}: fold must be a positive whole number");
            if (!int.TryParse(t.Cell(line, cells, cTarget, "target"), out int target) || target < 0)
                throw new SourceError($"{meta}:{line}: target must be a class index ≥ 0");
            var cat = t.Cell(line, cells, cCat, "category");
            if (names.TryGetValue(target, out var known) && known != cat)
                throw new SourceError($"{meta}:{line}: target {target} is named both '{known}' and '{cat}'");
            names[target] = cat;
            rows.Add((line, t.Cell(line, cells, cFile, "filename"), f, target));
        }
        // Labels: position in target order (identity for full ESC-50, 0..9 for ESC-10).
        var label = names.Keys.Select((target, i) => (target, i)).ToDictionary(x => x.target, x => x.i);
        var items = rows.Where(r => split switch { "train" => r.Fold != fold, "test" or "val" => r.Fold == fold, _ => true })
                        .Select(r => new MediaItem(SourceFiles.Resolve(audio, r.File), [label[r.Target]], Fold: r.Fold) { Origin = $"{meta}:{r.Line}" }).ToList();
        return new MediaSource($"{(esc10 ? "esc10" : "esc50")} fold {fold} ({split})", items, names.Values.ToList(), false) { AudioOnly = true, Root = Path.GetFullPath(audio) };
    }
}
