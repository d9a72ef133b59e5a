using AvBert.Data.Sources;

namespace AvBert.Data.Sources;

/// <summary>
/// Opens a data source from a spec string: <c>KIND:PATH[,key=value...]</c> or a bare path (auto-detected).
/// <list type="bullet">
/// <item><c>folder:DIR</c> unlabeled, every media file under DIR (recursive); <c>list:FILE</c> unlabeled, one path a line.</item>
/// <item><c>classes:DIR</c> labeled, one subfolder per class (DIR/train, DIR/test used for splits when present).</item>
/// <item><c>prepared:DIR</c> a prepared set made by <c>avbert prep</c> (the old name <c>cache:DIR</c> still works; a bare DIR
/// holding its index is recognised too): a kind added from above (<see cref="AddKind"/>).</item>
/// <item><c>ucf101:ROOT[,fold=1..3]</c>, <c>esc50:ROOT[,fold=1..5][,esc10=true]</c>,
/// <c>kinetics:CSV[,videos=DIR][,classes=FILE]</c>, <c>charades:CSV|ROOT[,videos=DIR]</c>, <c>csv:FILE[,root=DIR]</c>,
/// <c>audioset:SEGMENTS.csv[,labels=FILE][,videos=DIR][,trimmed=true]</c>.</item>
/// </list>
/// Splits: "train", "test" (also "val"/"validate" where the format has it) or "all". See docs/data.md.
/// </summary>
public static class SourceLoader
{
    /// <summary>File extensions taken for media when scanning folders.</summary>
    public static readonly IReadOnlySet<string> MediaExtensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts", ".mts", ".ogv", ".vob",
        ".wav", ".mp3", ".flac", ".ogg", ".oga", ".m4a", ".aac", ".opus", ".wma", ".aiff", ".aif",
    };

    /// <summary>Opens <paramref name="spec"/> and returns the items of <paramref name="split"/>. With <paramref name="skipped"/>,
    /// items whose file is missing are reported there and left out; without it they stay (and fail at decode time).
    /// Throws <see cref="SourceError"/> (a UserError) when the source itself is missing or malformed, or lists an item twice.
    /// Items outside the source's root folder (../, absolute paths, symbolic links) are used, and said once on
    /// <paramref name="notices"/> (default stderr).</summary>
    public static MediaSource Open(string spec, string split = "train", SkippedLog? skipped = null, TextWriter? notices = null)
    {
        var s = SourceSpec.Parse(spec);
        split = NormaliseSplit(split);
        var kind = s.Kind ?? Detect(s.Path);
        var source = kind switch
        {
            "folder" => FolderSources.Unlabeled(s),
            "list" => FolderSources.List(s),
            "classes" => FolderSources.Classes(s, split),
            "ucf101" => Ucf101Source.Open(s, split),
            "esc50" => Esc50Source.Open(s, split),
            "kinetics" => KineticsSource.Open(s, split),
            "charades" => CharadesSource.Open(s, split),
            "audioset" => AudioSetSource.Open(s, split),
            "csv" => CsvSource.Open(s, split),
            _ when Added.TryGetValue(kind, out var added) => added.Open(s.Path, split),
            _ => throw new SourceError($"unknown data source kind '{kind}'"),
        };
        RefuseDuplicates(source);
        if (OutsideRootNote(source) is { } note) (notices ?? Console.Error).WriteLine(note);
        return DropMissing(source, skipped, notices ?? Console.Error);
    }

    /// <summary>
    /// <see cref="Open"/> for a command that needs labels: a bare folder that would open unlabeled but whose subfolders
    /// hold media (DIR/CLASS/*.mp4, at least two of them, no media directly in DIR) is read as <c>classes:DIR</c>, as image
    /// and video libraries read such folders, and <paramref name="log"/> gets one line saying so.
    /// </summary>
    public static MediaSource OpenLabeled(string spec, string split = "train", SkippedLog? skipped = null, TextWriter? log = null)
    {
        var s = SourceSpec.Parse(spec);
        if (s.Kind is not null || !Directory.Exists(s.Path) || Detect(s.Path) != "folder" || !FolderSources.HoldsClassFolders(s.Path))
            return Open(spec, split, skipped);
        var source = Open("classes:" + spec.Trim(), split, skipped);
        log?.WriteLine($"data: {s.Path} read as a folder per class ({source.ClassNames.Count} classes: {string.Join(", ", source.ClassNames.Take(6))}" +
                       $"{(source.ClassNames.Count > 6 ? ", ..." : "")}); write classes:{s.Path} to say so, folder:{s.Path} for unlabeled.");
        return source;
    }

    /// <summary>The same file (and segment) listed twice would be seen twice as often and could land in train and test at
    /// once: an error naming both rows.</summary>
    static void RefuseDuplicates(MediaSource source)
    {
        var seen = new Dictionary<(string, double?, double?), MediaItem>();
        foreach (var item in source.Items)
        {
            if (seen.TryAdd((item.Path, item.Start, item.End), item)) continue;
            var first = seen[(item.Path, item.Start, item.End)];
            throw new SourceError(item.Origin is { } where
                ? $"{where}: duplicate of the row at {first.Origin} ({item.Path}): remove one of them"
                : $"{item.Path} is listed twice by {source.Name}: remove one of them");
        }
    }

    /// <summary>One line when some items lie outside the source's root (after resolving ../ and symbolic links), else null.</summary>
    internal static string? OutsideRootNote(MediaSource source)
    {
        if (source.Root is not { } root) return null;
        var outside = source.Items.Where(i => !SourceFiles.IsInside(i.Path, root)).ToList();
        if (outside.Count == 0) return null;
        return $"note: {outside.Count} of {source.Items.Count} items of {source.Name} lie outside {root} (../, absolute paths or " +
               $"symbolic links; e.g. {outside[0].Path}): they are used as listed";
    }

    /// <summary>A kind a namespace above the sources adds (the prepared set): how to open DIR's items of a split, and
    /// whether a bare folder is one (looked at before the built-in kinds).</summary>
    sealed record AddedKind(Func<string, string, MediaSource> Open, Func<string, bool> Recognises);
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, AddedKind> Added = new();

    /// <summary>Adds spec kind <paramref name="kind"/> (one <see cref="SourceSpec.Kinds"/> names): <paramref name="open"/>
    /// opens (path, split); <paramref name="recognises"/> tells a bare folder of that kind.</summary>
    public static void AddKind(string kind, Func<string, string, MediaSource> open, Func<string, bool> recognises)
    {
        if (!SourceSpec.Kinds.Contains(kind)) throw new ArgumentException($"'{kind}' is not a source kind the spec parser knows", nameof(kind));
        Added[kind] = new AddedKind(open, recognises);
    }

    /// <summary><paramref name="spec"/> with its path made absolute: the same text for the same source from any working folder.</summary>
    public static string Absolute(string spec)
    {
        var s = SourceSpec.Parse(spec);
        return (s.Kind is null ? "" : s.Kind + ":") + Path.GetFullPath(s.Path) + string.Concat(s.Options.Select(kv => $",{kv.Key}={kv.Value}"));
    }

    /// <summary>Which kind a bare path is: a folder with meta/esc50.csv → esc50; with ucfTrainTestlist or classInd.txt →
    /// ucf101; with Charades_v1_train.csv → charades; any other folder → folder (unlabeled). A .csv file by its header
    /// (youtube_id → kinetics, actions → charades, filename+fold+target → esc50, AudioSet's "# Segments csv created"
    /// comment → audioset, else csv); any other file → list.</summary>
    public static string Detect(string path)
    {
        if (Directory.Exists(path))
        {
            foreach (var (kind, added) in Added) if (added.Recognises(path)) return kind;
            if (File.Exists(Path.Combine(path, "meta", "esc50.csv"))) return "esc50";
            if (Directory.Exists(Path.Combine(path, "ucfTrainTestlist")) || File.Exists(Path.Combine(path, "classInd.txt"))) return "ucf101";
            if (File.Exists(Path.Combine(path, "Charades_v1_train.csv"))) return "charades";
            return "folder";
        }
        if (!File.Exists(path)) throw new SourceError($"data source not found: {path} (give an existing folder or file, or KIND:PATH)");
        if (!path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)) return "list";
        var first = File.ReadLines(path).FirstOrDefault(l => l.Trim().Length > 0)?.TrimStart('\uFEFF').ToLowerInvariant() ?? "";
        if (first.StartsWith("# segments csv created")) return "audioset";
        var cols = first.Split(',').Select(c => c.Trim().Trim('"')).ToHashSet();
        if (cols.Contains("youtube_id")) return "kinetics";
        if (cols.Contains("actions") && cols.Contains("id")) return "charades";
        if (cols.Contains("filename") && cols.Contains("fold") && cols.Contains("target")) return "esc50";
        return "csv";
    }

    static string NormaliseSplit(string split) => split.Trim().ToLowerInvariant() switch
    {
        "train" or "training" => "train",
        "test" or "testing" => "test",
        "val" or "valid" or "validate" or "validation" => "val",
        "all" or "" => "all",
        var other => throw new SourceError($"unknown split '{split}': use train, val, test or all"),
    };

    static MediaSource DropMissing(MediaSource source, SkippedLog? skipped, TextWriter notices)
    {
        if (skipped is null) return source;
        var kept = new List<MediaItem>(source.Items.Count);
        int missing = 0;
        bool news = false; // a source opened again (train, then test) has its missing files reported already: no second note
        string? firstMissing = null;
        foreach (var item in source.Items)
        {
            if (item.Prepared is not null || File.Exists(item.Path)) { kept.Add(item); continue; }
            missing++;
            firstMissing ??= item.Path;
            news |= skipped.Report(item.Path, $"file not found (listed by {source.Name})", print: false);
        }
        if (missing == 0) return source;
        if (news) notices.WriteLine($"note: {source.Name}: {kept.Count} of {source.Items.Count} files found; the {missing} missing are left out" +
                          (skipped.FilePath is { } tsv ? $" (listed in {tsv})" : $" (e.g. {firstMissing})"));
        return source with { Items = kept, MissingFiles = missing };
    }
}
