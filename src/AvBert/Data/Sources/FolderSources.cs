namespace AvBert.Data.Sources;

/// <summary>Unlabeled folders and list files; labeled folder-per-class trees.</summary>
internal static class FolderSources
{
    /// <summary><c>folder:DIR</c>: every media file under DIR, unlabeled (pretraining). Splits are ignored.</summary>
    public static MediaSource Unlabeled(SourceSpec s)
    {
        s.Allow();
        var dir = SourceFiles.RequireDirectory(s.Path, "media folder");
        var items = SourceFiles.MediaFiles(dir).Select(f => new MediaItem(f, [])).ToList();
        return new MediaSource($"folder {dir}", items, [], false) { Root = dir };
    }

    /// <summary><c>list:FILE</c>: one media path a line, relative to the list's folder (or <c>root=DIR</c>); '#' comments.</summary>
    public static MediaSource List(SourceSpec s)
    {
        s.Allow("root");
        var file = SourceFiles.RequireFile(s.Path, "list file");
        var root = s.Option("root") ?? Path.GetDirectoryName(file)!;
        var items = new List<MediaItem>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(file))
        {
            lineNo++;
            var line = raw.Trim().TrimStart('\uFEFF');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            items.Add(new MediaItem(SourceFiles.Resolve(root, line), []) { Origin = $"{file}:{lineNo}" });
        }
        return new MediaSource($"list {file}", items, [], false) { Root = Path.GetFullPath(root) };
    }

    /// <summary>DIR looks like a folder per class: no media files directly in it, and at least two (non-hidden) subfolders
    /// that hold media (classes, or train/ and test/ folders of classes).</summary>
    public static bool HoldsClassFolders(string dir)
    {
        if (Directory.EnumerateFiles(dir).Any(f => SourceLoader.MediaExtensions.Contains(Path.GetExtension(f)) && !Path.GetFileName(f).StartsWith('.')))
            return false;
        return Directory.EnumerateDirectories(dir).Where(d => !Path.GetFileName(d).StartsWith('.'))
                        .Count(d => SourceFiles.MediaFiles(d).Count > 0) >= 2;
    }

    /// <summary><c>classes:DIR</c>: DIR/CLASS/**/file; classes are the subfolder names in ordinal order (over all splits, so indices agree). When DIR has
    /// train/ and test/ (or val/) subfolders, or only one of them and nothing else, the split picks one of them.</summary>
    public static MediaSource Classes(SourceSpec s, string split)
    {
        s.Allow();
        var dir = SourceFiles.RequireDirectory(s.Path, "class folder");
        var splitDirs = new[] { "train", "val", "test" }.Where(d => Directory.Exists(Path.Combine(dir, d))).ToList();
        // Split folders: two or more of train/val/test, or one of them alone (DIR/train/CLASS, no test yet): never a class.
        bool splitLayout = splitDirs.Count >= 2 ||
                           (splitDirs.Count == 1 && Directory.EnumerateDirectories(dir).Select(Path.GetFileName).Count(n => n is not null && !n.StartsWith('.')) == 1);
        var roots = splitLayout
            ? split == "all" ? splitDirs.Select(d => Path.Combine(dir, d)).ToList()
              : splitDirs.Contains(split) ? [Path.Combine(dir, split)]
              : throw new SourceError($"{dir} has {string.Join("/", splitDirs)} subfolders but no '{split}'")
            : [dir];
        var classRoots = splitLayout ? splitDirs.Select(d => Path.Combine(dir, d)).ToList() : roots;
        var classes = classRoots.SelectMany(r => Directory.EnumerateDirectories(r).Select(Path.GetFileName))
                           .Where(n => n is not null && !n.StartsWith('.')).Select(n => n!)
                           .Distinct().Order(StringComparer.Ordinal).ToList();
        if (classes.Count == 0) throw new SourceError($"{dir}: no class subfolders (expected DIR/CLASS/video.mp4)");
        var index = classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        var items = new List<MediaItem>();
        foreach (var r in roots)
            foreach (var c in classes)
            {
                var cdir = Path.Combine(r, c);
                if (Directory.Exists(cdir)) items.AddRange(SourceFiles.MediaFiles(cdir).Select(f => new MediaItem(f, [index[c]])));
            }
        return new MediaSource($"classes {dir} ({split})", items, classes, false) { Root = dir };
    }
}
