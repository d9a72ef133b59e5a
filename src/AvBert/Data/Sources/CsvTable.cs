using System.Text;

namespace AvBert.Data.Sources;

/// <summary>A small CSV reader (RFC 4180 quotes, also after spaces as in AudioSet's files; comma or tab separated, '#' comment lines, BOM tolerated) that
/// remembers line numbers for error messages.</summary>
internal sealed class CsvTable
{
    public required string File { get; init; }
    public required string[]? Header { get; init; }
    public required List<(int Line, string[] Cells)> Rows { get; init; }

    public static CsvTable Read(string file, bool? hasHeader = null, Func<string[], bool>? looksLikeHeader = null)
    {
        if (!System.IO.File.Exists(file)) throw new SourceError($"{file}: file not found");
        var rows = new List<(int, string[])>();
        int lineNo = 0;
        char? sep = null;
        foreach (var raw in System.IO.File.ReadLines(file, Encoding.UTF8))
        {
            lineNo++;
            var line = raw.TrimEnd('\r');
            if (lineNo == 1) line = line.TrimStart('\uFEFF');
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#')) continue;
            sep ??= line.Contains('\t') && !line.Contains(',') ? '\t' : ',';
            rows.Add((lineNo, Split(line, sep.Value)));
        }
        string[]? header = null;
        if (rows.Count > 0 && (hasHeader ?? looksLikeHeader?.Invoke(rows[0].Item2) ?? false))
        {
            header = rows[0].Item2.Select(h => h.Trim().ToLowerInvariant()).ToArray();
            rows.RemoveAt(0);
        }
        return new CsvTable { File = file, Header = header, Rows = rows };
    }

    /// <summary>Index of the first header column among <paramref name="names"/>, or -1.</summary>
    public int Column(params string[] names)
    {
        if (Header is null) return -1;
        foreach (var n in names)
        {
            int i = Array.IndexOf(Header, n);
            if (i >= 0) return i;
        }
        return -1;
    }

    public int RequireColumn(string what, params string[] names)
    {
        int i = Column(names);
        if (i < 0) throw new SourceError($"{File}: no '{names[0]}' column ({what}); the header has: {string.Join(",", Header ?? [])}");
        return i;
    }

    public string Cell(int line, string[] cells, int column, string what)
    {
        if (column >= cells.Length) throw new SourceError($"{File}:{line}: missing {what} (column {column + 1})");
        return cells[column].Trim();
    }

    static string[] Split(string line, char sep)
    {
        var cells = new List<string>();
        var sb = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else sb.Append(c);
            }
            else if (c == '"' && sb.ToString().Trim().Length == 0) { quoted = true; sb.Clear(); } // "a, "b,c"": spaces before a quote
            else if (c == sep) { cells.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(c);
        }
        cells.Add(sb.ToString());
        return cells.ToArray();
    }
}
