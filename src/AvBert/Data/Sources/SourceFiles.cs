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

    /// <summary>Media files under <paramref name="dir"/> (recursive, hidden files and folders skipped), in ordinal path order.
    /// Symbolic links to folders are followed, but a link that leads back into a folder being scanned (a loop, which would
    /// list the same files over and over) is a <see cref="SourceError"/>.</summary>
    public static List<string> MediaFiles(string dir)
    {
        var options = new EnumerationOptions { AttributesToSkip = FileAttributes.Hidden, IgnoreInaccessible = true, ReturnSpecialDirectories = false };
        var files = new List<string>();
        var walking = new HashSet<string>(StringComparer.Ordinal); // real paths of the folders from dir down to the current one
        void Walk(string folder)
        {
            var real = RealPath(folder);
            if (!walking.Add(real))
                throw new SourceError($"{folder}: symbolic link loop (it leads back to {real}, which contains it): remove or fix the link");
            foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos("*", options))
            {
                if (entry.Name.StartsWith('.')) continue;
                if (Directory.Exists(entry.FullName)) Walk(entry.FullName); // a folder, or a link to one
                else if (SourceLoader.MediaExtensions.Contains(Path.GetExtension(entry.Name))) files.Add(Path.GetFullPath(entry.FullName));
            }
            walking.Remove(real);
        }
        Walk(Path.GetFullPath(dir));
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    /// <summary>The canonical path (every symbolic link resolved, no "." or ".."), or the plain full path when it cannot be
    /// resolved (it does not exist, or the platform has no realpath).</summary>
    public static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        try
        {
            var p = realpath(full, IntPtr.Zero);
            if (p == IntPtr.Zero) return full;
            try { return System.Runtime.InteropServices.Marshal.PtrToStringUTF8(p) ?? full; }
            finally { free(p); }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return full; }
    }

    /// <summary>True when <paramref name="path"/> (links resolved) lies inside the folder <paramref name="root"/> (links resolved).</summary>
    public static bool IsInside(string path, string root)
    {
        var r = RealPath(root).TrimEnd('/') + "/";
        return RealPath(path).StartsWith(r, StringComparison.Ordinal);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern IntPtr realpath([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);
    [System.Runtime.InteropServices.DllImport("libc")]
    static extern void free(IntPtr p);

    /// <summary>Class names from a text file, one a line (blank lines and '#' comments skipped); "1 Name" and "c000 Name"
    /// lines keep only the name when <paramref name="dropFirstToken"/>. A name of <see cref="BuiltInClassLists"/>
    /// (<c>kinetics_sounds</c>) that is not a file reads the list shipped with the library.</summary>
    public static List<string> ClassFile(string file, bool dropFirstToken = false)
    {
        var builtIn = File.Exists(file) ? null : BuiltInClassList(file);
        if (builtIn is null) RequireFile(file, "class list (or a built-in list: " + string.Join(", ", BuiltInClassLists) + ")");
        var names = new List<string>();
        foreach (var raw in builtIn ?? File.ReadLines(file))
        {
            var line = raw.Trim().TrimStart('\uFEFF');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (dropFirstToken) { int sp = line.IndexOfAny([' ', '\t']); if (sp > 0) line = line[(sp + 1)..].Trim(); }
            names.Add(line);
        }
        return names;
    }

    /// <summary>Class lists shipped with the library (src/AvBert/Data/Sources/ClassLists), by name.</summary>
    public static IReadOnlyList<string> BuiltInClassLists =>
        typeof(SourceFiles).Assembly.GetManifestResourceNames().Where(n => n.Contains(".ClassLists.") && n.EndsWith(".txt"))
            .Select(n => n[(n.LastIndexOf(".ClassLists.", StringComparison.Ordinal) + ".ClassLists.".Length)..^4]).Order(StringComparer.Ordinal).ToList();

    /// <summary>The lines of the built-in list <paramref name="name"/> (with or without .txt), or null.</summary>
    public static string[]? BuiltInClassList(string name)
    {
        var stem = name.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) ? name[..^4] : name;
        if (stem.Contains('/') || !BuiltInClassLists.Contains(stem, StringComparer.Ordinal)) return null;
        var asm = typeof(SourceFiles).Assembly;
        using var stream = asm.GetManifestResourceStream(asm.GetManifestResourceNames().First(n => n.EndsWith($".ClassLists.{stem}.txt")))!;
        return new StreamReader(stream).ReadToEnd().Split('\n');
    }
}
