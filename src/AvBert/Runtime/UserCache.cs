namespace AvBert.Runtime;

/// <summary>The per-user cache folder of AVBERT.NET (results that are slow to make and safe to delete).</summary>
public static class UserCache
{
    /// <summary>$XDG_CACHE_HOME/avbert/<paramref name="name"/>, else ~/.cache/avbert/<paramref name="name"/>; null without a home.</summary>
    public static string? Directory(string name)
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var root = !string.IsNullOrEmpty(xdg) ? xdg : string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".cache");
        return root is null ? null : Path.Combine(root, "avbert", name);
    }
}
