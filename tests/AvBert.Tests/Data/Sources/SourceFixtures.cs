namespace AvBert.Tests.Data.Sources;

/// <summary>Writes tiny hand-made dataset layouts (text files and empty placeholder "videos": parsers never decode).</summary>
static class Layout
{
    public static string Write(string root, string relative, string text = "")
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.Replace("\r\n", "\n"));
        return path;
    }

    public static string Touch(string root, string relative) => Write(root, relative, "x");
}
