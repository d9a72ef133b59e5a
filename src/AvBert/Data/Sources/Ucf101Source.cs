namespace AvBert.Data.Sources;

/// <summary>
/// UCF101: <c>ucfTrainTestlist/classInd.txt</c> ("1 ApplyEyeMakeup"), <c>trainlistNN.txt</c> ("ApplyEyeMakeup/v_..._g08_c01.avi 1"),
/// <c>testlistNN.txt</c> ("ApplyEyeMakeup/v_..._g01_c01.avi"); videos under <c>UCF-101/CLASS/</c>. <c>fold=1..3</c> picks
/// the official split (default 1). Classes are in classInd order; labels come from the class folder in each path
/// (case-insensitive: the official lists spell HandStandPushups two ways).
/// </summary>
internal static class Ucf101Source
{
    public static MediaSource Open(SourceSpec s, string split)
    {
        s.Allow("fold", "videos", "lists");
        var root = SourceFiles.RequireDirectory(s.Path, "UCF101 root");
        int fold = s.IntOption("fold", 1);
        if (fold is < 1 or > 3) throw new SourceError($"UCF101 fold={fold}: the official splits are 1, 2 and 3");
        var lists = s.Option("lists") ?? new[] { Path.Combine(root, "ucfTrainTestlist"), root }.First(d => File.Exists(Path.Combine(d, "classInd.txt")) || d == root);
        var videos = s.Option("videos") ?? new[] { Path.Combine(root, "UCF-101"), Path.Combine(root, "UCF101"), Path.Combine(root, "videos"), root }.First(Directory.Exists);
        var classInd = SourceFiles.RequireFile(Path.Combine(lists, "classInd.txt"), "UCF101 classInd.txt");

        var classes = new List<string>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(classInd))
        {
            lineNo++;
            var parts = raw.Trim().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) continue;
            if (parts.Length != 2 || !int.TryParse(parts[0], out int id) || id != classes.Count + 1)
                throw new SourceError($"{classInd}:{lineNo}: expected \"{classes.Count + 1} ClassName\", got \"{raw.Trim()}\"");
            classes.Add(parts[1]);
        }
        var index = classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.OrdinalIgnoreCase);

        var names = split switch
        {
            "train" => [$"trainlist{fold:00}.txt"],
            "test" or "val" => [$"testlist{fold:00}.txt"],
            _ => new[] { $"trainlist{fold:00}.txt", $"testlist{fold:00}.txt" },
        };
        var items = new List<MediaItem>();
        foreach (var name in names)
        {
            var list = SourceFiles.RequireFile(Path.Combine(lists, name), $"UCF101 {name}");
            lineNo = 0;
            foreach (var raw in File.ReadLines(list))
            {
                lineNo++;
                var parts = raw.Trim().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0) continue;
                var rel = parts[0].Replace('\\', '/');
                var folder = rel.Contains('/') ? rel[..rel.IndexOf('/')] : null;
                int label;
                if (folder is not null && index.TryGetValue(folder, out int byFolder)) label = byFolder;
                else if (parts.Length > 1 && int.TryParse(parts[1], out int id) && id >= 1 && id <= classes.Count) label = id - 1;
                else throw new SourceError($"{list}:{lineNo}: cannot tell the class of \"{raw.Trim()}\" (expected CLASS/v_CLASS_gNN_cNN.avi [index])");
                items.Add(new MediaItem(SourceFiles.Resolve(videos, rel), [label]) { Origin = $"{list}:{lineNo}" });
            }
        }
        return new MediaSource($"ucf101 split {fold} ({split})", items, classes, false) { Root = Path.GetFullPath(videos), OfficialSplits = 3 };
    }
}
