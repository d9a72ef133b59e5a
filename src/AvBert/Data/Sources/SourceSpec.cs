namespace AvBert.Data.Sources;

/// <summary>
/// A parsed source spec: <c>KIND:PATH[,key=value...]</c>, e.g. <c>ucf101:/data/UCF101,fold=2</c>,
/// <c>kinetics:/data/k400/train.csv,videos=/data/k400/train</c>. A bare path has no kind (auto-detected).
/// </summary>
internal sealed record SourceSpec(string? Kind, string Path, IReadOnlyDictionary<string, string> Options)
{
    public static readonly string[] Kinds = ["folder", "classes", "list", "ucf101", "esc50", "kinetics", "charades", "audioset", "csv", "prepared"];

    /// <summary>Old names of kinds, still read: <c>cache:DIR</c> is what <c>prepared:DIR</c> was called (in older scripts and
    /// saved configs).</summary>
    static readonly Dictionary<string, string> Aliases = new() { ["cache"] = "prepared" };

    public static SourceSpec Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new SourceError("empty data source: give a folder, a list file or KIND:PATH (kinds: " + string.Join(", ", Kinds) + ")");
        string? kind = null;
        string rest = spec.Trim();
        int colon = rest.IndexOf(':');
        if (colon > 0)
        {
            var k = rest[..colon].ToLowerInvariant();
            if (Aliases.TryGetValue(k, out var now)) k = now;
            if (Kinds.Contains(k)) { kind = k; rest = rest[(colon + 1)..]; }
            else if (k.All(char.IsAsciiLetterLower) && k.Length > 1 && !File.Exists(spec) && !Directory.Exists(spec))
                throw new SourceError($"unknown data source kind '{k}' in '{spec}': use one of {string.Join(", ", Kinds)}, or a bare path");
        }
        // Options are trailing ",key=value" parts; everything before them is the path (which may itself contain commas).
        var options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var parts = rest.Split(',');
        int n = parts.Length;
        while (n > 1 && IsOption(parts[n - 1])) n--;
        for (int i = n; i < parts.Length; i++)
        {
            int eq = parts[i].IndexOf('=');
            options[parts[i][..eq].Trim()] = parts[i][(eq + 1)..].Trim();
        }
        var path = string.Join(',', parts[..n]).Trim();
        if (path.Length == 0) throw new SourceError($"data source '{spec}' has no path");
        return new SourceSpec(kind, path, options);
    }

    static bool IsOption(string s)
    {
        int eq = s.IndexOf('=');
        return eq > 0 && s[..eq].Trim().All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
    }

    public string? Option(string key) => Options.TryGetValue(key, out var v) && v.Length > 0 ? v : null;

    public int IntOption(string key, int fallback)
    {
        var v = Option(key);
        if (v is null) return fallback;
        return int.TryParse(v, out var i) ? i : throw new SourceError($"option {key}={v} must be a whole number");
    }

    /// <summary>Throws on options this kind does not know, so typos do not pass silently.</summary>
    public void Allow(params string[] keys)
    {
        foreach (var k in Options.Keys)
            if (!keys.Contains(k, StringComparer.OrdinalIgnoreCase))
                throw new SourceError($"option '{k}' is not known for {Kind} sources: known options are {(keys.Length == 0 ? "none" : string.Join(", ", keys))}");
    }
}
