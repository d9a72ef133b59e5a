using System.Globalization;

namespace AvBert.Data.Sources;

/// <summary>
/// Charades: <c>Charades_v1_train.csv</c> / <c>Charades_v1_test.csv</c> (id,...,actions,length) where actions is
/// "c092 11.90 21.20;c147 0.00 12.60". Multi-label: an item's labels are all its actions, with their spans in
/// <see cref="MediaItem.Spans"/>. The spec is the CSV, or the folder holding both (the split picks the file).
/// Videos: <c>ID.*</c> under <c>videos=DIR</c> (default: Charades_v1_480, Charades_v1 or videos beside the CSV).
/// Classes: <c>Charades_v1_classes.txt</c> beside the CSV ("c000 Holding some clothes"), else the codes seen, in order.
/// </summary>
internal static class CharadesSource
{
    public static MediaSource Open(SourceSpec s, string split)
    {
        s.Allow("videos", "classes");
        string csv;
        if (Directory.Exists(s.Path))
        {
            var name = split switch { "train" => "Charades_v1_train.csv", "test" or "val" => "Charades_v1_test.csv",
                                      _ => throw new SourceError("Charades from a folder needs split train or test (or give one CSV file)") };
            csv = SourceFiles.RequireFile(Path.Combine(s.Path, name), $"Charades {name}");
        }
        else csv = SourceFiles.RequireFile(s.Path, "Charades CSV");
        var dir = Path.GetDirectoryName(csv)!;
        var videos = s.Option("videos")
                     ?? new[] { "Charades_v1_480", "Charades_v1", "videos" }.Select(d => Path.Combine(dir, d)).FirstOrDefault(Directory.Exists)
                     ?? dir;
        SourceFiles.RequireDirectory(videos, "Charades video folder");

        var t = CsvTable.Read(csv, hasHeader: true);
        int cId = t.RequireColumn("video id", "id"), cActions = t.RequireColumn("actions", "actions");
        var parsed = new List<(int Line, string Id, List<(string Code, double Start, double End)> Actions)>();
        foreach (var (line, cells) in t.Rows)
        {
            var actions = new List<(string, double, double)>();
            foreach (var a in t.Cell(line, cells, cActions, "actions").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var p = a.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (p.Length != 3 || !double.TryParse(p[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var st)
                                  || !double.TryParse(p[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var en))
                    throw new SourceError($"{csv}:{line}: action \"{a}\" should be \"cNNN START END\"");
                actions.Add((p[0], st, en));
            }
            parsed.Add((line, t.Cell(line, cells, cId, "id"), actions));
        }

        var classFile = s.Option("classes") ?? Path.Combine(dir, "Charades_v1_classes.txt");
        List<string> codes, names;
        if (File.Exists(classFile))
        {
            var lines = SourceFiles.ClassFile(classFile);
            codes = lines.Select(l => l.Split(' ', 2)[0]).ToList();
            names = lines.Select(l => l.Split(' ', 2)).Select(p => p.Length == 2 ? p[1].Trim() : p[0]).ToList();
        }
        else codes = names = parsed.SelectMany(p => p.Actions.Select(a => a.Code)).Distinct().Order(StringComparer.Ordinal).ToList();
        var index = codes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);

        var byStem = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in SourceFiles.MediaFiles(videos)) byStem.TryAdd(Path.GetFileNameWithoutExtension(f), f);
        var items = new List<MediaItem>(parsed.Count);
        foreach (var (line, id, actions) in parsed)
        {
            var spans = new List<LabelSpan>();
            foreach (var (code, st, en) in actions)
            {
                if (!index.TryGetValue(code, out int l)) throw new SourceError($"{csv}: video {id}: action class '{code}' is not in {classFile}");
                spans.Add(new LabelSpan(l, st, en));
            }
            var path = byStem.TryGetValue(id, out var p) ? p : Path.Combine(videos, id + ".mp4");
            items.Add(new MediaItem(path, spans.Select(x => x.Label).Distinct().Order().ToArray()) { Spans = spans, Origin = $"{csv}:{line}" });
        }
        return new MediaSource($"charades {Path.GetFileName(csv)}", items, names, MultiLabel: true) { Root = Path.GetFullPath(videos) };
    }
}
