namespace AvBert.RealMedia;

/// <summary>Who made one asset, under which licence, and where it was published.</summary>
public sealed record AssetCredit(string? Copyright, string? Licence, string? Source);

/// <summary>
/// Reads the per-file credits GCompris keeps beside its resources: a README of blocks separated by blank lines, each with
/// <c>Copyright:</c>, <c>License:</c>, <c>Source:</c> lines and a <c>Files:</c> line followed by one file name a line.
/// </summary>
public static class AssetCredits
{
    /// <summary>The credit of each file named in <paramref name="readme"/> (empty when there is no such file).</summary>
    public static IReadOnlyDictionary<string, AssetCredit> Read(string readme)
    {
        var credits = new Dictionary<string, AssetCredit>(StringComparer.Ordinal);
        if (!File.Exists(readme)) return credits;
        var copyright = new List<string>();
        string? licence = null, source = null;
        bool files = false;
        foreach (var raw in File.ReadLines(readme).Append(""))
        {
            var line = raw.Trim();
            if (line.Length == 0)
            {
                copyright.Clear();
                licence = source = null;
                files = false;
                continue;
            }
            if (Value(line, "Copyright:") is { } c) copyright.Add(c);
            else if (Value(line, "License:") is { } l) licence = l;
            else if (Value(line, "Source:") is { } s) source = s;
            else if (line.StartsWith("Files:", StringComparison.Ordinal))
            {
                files = true;
                foreach (var f in line["Files:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    credits[f] = new AssetCredit(copyright.Count > 0 ? string.Join("; ", copyright) : null, licence, source);
            }
            else if (files) credits[line] = new AssetCredit(copyright.Count > 0 ? string.Join("; ", copyright) : null, licence, source);
        }
        return credits;
    }

    static string? Value(string line, string key) => line.StartsWith(key, StringComparison.Ordinal) ? line[key.Length..].Trim() : null;
}
