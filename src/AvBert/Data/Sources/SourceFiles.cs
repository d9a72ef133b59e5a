namespace AvBert.Data.Sources;

/// <summary>Path helpers shared by the source parsers.</summary>
internal static class SourceFiles
{
    /// <summary>An absolute path: <paramref name="path"/> as is when rooted, else relative to <paramref name="root"/>.
    /// Backslashes from Windows-made lists are taken as separators.</summary>
    public static string Resolve(string root, string path)
    {
        path = path.Trim();
        if (Path.DirectorySeparatorChar == '/') path = path.Replace('\\', '/');
        return Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(root, path));
    }

    public static string RequireDirectory(string path, string what)
    {
        if (!Directory.Exists(path)) throw new SourceError($"{what} not found: {path}");
        return Path.GetFullPath(path);
    }

    public static string RequireFile(string path, string what)
    {
        if (!File.Exists(path)) throw new SourceError($"{what} not found: {path}");
        return Path.GetFullPath(path);
    }

    /// <summary>Media files under <paramref name="dir"/> (recursive, hidden files and folders skipped), in ordinal path order.</summary>
    public static List<string> MediaFiles(string dir)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden, IgnoreInaccessible = true, ReturnSpecialDirectories = false };
        return Directory.EnumerateFiles(dir, "*", options)
                        .Where(f => SourceLoader.MediaExtensions.Contains(Path.GetExtension(f)) && !Path.GetFileName(f).StartsWith('.'))
                        .Select(Path.GetFullPath)
                        .Order(StringComparer.Ordinal)
                        .ToList();
    }

    /// <summary>Class names from a text file, one a line (blank lines and '#' comments skipped); "1 Name" and "c000 Name"
    /// lines keep only the name when <paramref name="dropFirstToken"/>.</summary>
    public static List<string> ClassFile(string file, bool dropFirstToken = false)
    {
        RequireFile(file, "class list");
        var names = new List<string>();
        foreach (var raw in File.ReadLines(file))
        {
            var line = raw.Trim().TrimStart('\uFEFF');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (dropFirstToken) { int sp = line.IndexOfAny([' ', '\t']); if (sp > 0) line = line[(sp + 1)..].Trim(); }
            names.Add(line);
        }
        return names;
    }
}
