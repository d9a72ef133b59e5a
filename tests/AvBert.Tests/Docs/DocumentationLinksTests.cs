using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AvBert.Tests.Docs;

/// <summary>
/// The README is the front page and the topic pages under docs/ hold the rest; they link to each other by relative
/// paths and <c>#anchors</c>. Every such link must lead to a file that exists and, with an anchor into a Markdown file,
/// to a heading of that file (GitHub's anchor rules); the README links to every page and stays at most 300 lines.
/// </summary>
public class DocumentationLinksTests
{
    const int MaxReadmeLines = 300;

    static string Root => TestSetup.RepoRoot;

    /// <summary>README.md and every docs/*.md, as paths relative to the repository root ('/'-separated).</summary>
    static IEnumerable<string> Pages()
    {
        yield return "README.md";
        foreach (var f in Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Order(StringComparer.Ordinal))
            yield return "docs/" + Path.GetFileName(f);
    }

    [Fact]
    public void Readme_has_at_most_300_lines()
    {
        var lines = File.ReadAllLines(Path.Combine(Root, "README.md")).Length;
        Assert.True(lines <= MaxReadmeLines,
            $"README.md has {lines} lines, more than {MaxReadmeLines}: move the detail to a page under docs/ and link to it");
    }

    [Fact]
    public void Every_relative_link_and_anchor_resolves()
    {
        var problems = Pages().SelectMany(page => Problems(Root, page)).ToList();
        Assert.True(problems.Count == 0, $"{problems.Count} broken link(s):\n" + string.Join("\n", problems));
    }

    [Fact]
    public void Readme_links_to_every_docs_page()
    {
        var linked = Links(File.ReadAllText(Path.Combine(Root, "README.md")))
            .Select(l => l.Target.Split('#')[0])
            .ToHashSet(StringComparer.Ordinal);
        var missing = Pages().Where(p => p != "README.md" && !linked.Contains(p)).ToList();
        Assert.True(missing.Count == 0, "README.md does not link to: " + string.Join(", ", missing));
    }

    [Theory]
    [InlineData("Demo: `./avbert demo`", "demo-avbert-demo")]
    [InlineData("On real media: `./avbert demo --data real`", "on-real-media-avbert-demo---data-real")]
    [InlineData("The demo's pretraining settings", "the-demos-pretraining-settings")]
    [InlineData("Options (`pretrain:` section)", "options-pretrain-section")]
    [InlineData("Running on older Linux (libstdc++ before GCC 13)", "running-on-older-linux-libstdc-before-gcc-13")]
    [InlineData("Result (toy-av v4, these defaults)", "result-toy-av-v4-these-defaults")]
    [InlineData("`cpp_pooling` and [SPEC](SPEC.md) §7", "cpp_pooling-and-spec-7")]
    public void Anchors_follow_GitHubs_rules(string heading, string anchor) => Assert.Equal(anchor, Anchor(heading));

    [Fact]
    public void A_broken_link_is_reported_with_the_file_the_link_and_what_is_missing()
    {
        var dir = TestSetup.TempDir("doclinks");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "docs"));
            File.WriteAllText(Path.Combine(dir, "docs", "a.md"), "# A page\n\n## Same title\n\n## Same title\n\n```bash\n# not a heading\n[not a link](nowhere.md)\n```\n");
            File.WriteAllText(Path.Combine(dir, "README.md"),
                "# Top\n\n[ok](docs/a.md#same-title-1), [ok](#top), [web](https://example.org/x#y), `[code](nowhere.md)`\n" +
                "[no file](docs/b.md)\n[no anchor](docs/a.md#not-there)\n[no heading in a fence](docs/a.md#not-a-heading)\n");
            var problems = Problems(dir, "README.md").ToList();
            Assert.Equal(3, problems.Count);
            Assert.Contains("README.md:4: link [no file](docs/b.md): docs/b.md does not exist", problems);
            Assert.Contains("README.md:5: link [no anchor](docs/a.md#not-there): docs/a.md has no heading with the anchor #not-there", problems);
            Assert.Contains("README.md:6: link [no heading in a fence](docs/a.md#not-a-heading): docs/a.md has no heading with the anchor #not-a-heading", problems);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    // ---- the checker ----

    /// <summary>What is wrong with the links of one page (path relative to <paramref name="root"/>), one line each.</summary>
    static IEnumerable<string> Problems(string root, string page)
    {
        var pageDir = Path.GetDirectoryName(Path.Combine(root, page))!;
        foreach (var (line, text, target) in Links(File.ReadAllText(Path.Combine(root, page))))
        {
            if (Regex.IsMatch(target, @"^[A-Za-z][A-Za-z0-9+.-]*:")) continue; // https:, mailto:, ...
            var hash = target.IndexOf('#');
            var path = Uri.UnescapeDataString(hash < 0 ? target : target[..hash]);
            var anchor = hash < 0 ? null : target[(hash + 1)..];
            var full = path.Length == 0 ? Path.Combine(root, page) : Path.GetFullPath(Path.Combine(pageDir, path));
            var shown = path.Length == 0 ? page : Path.GetRelativePath(root, full).Replace('\\', '/');
            var where = $"{page}:{line}: link [{text}]({target})";
            if (!File.Exists(full) && !Directory.Exists(full))
            {
                yield return $"{where}: {shown} does not exist";
                continue;
            }
            if (string.IsNullOrEmpty(anchor) || !full.EndsWith(".md", StringComparison.OrdinalIgnoreCase) || !File.Exists(full)) continue;
            if (!Anchors(File.ReadAllText(full)).Contains(Uri.UnescapeDataString(anchor)))
                yield return $"{where}: {shown} has no heading with the anchor #{anchor}";
        }
    }

    /// <summary>The lines of a Markdown text outside fenced code blocks, with their 1-based numbers.</summary>
    static IEnumerable<(int Line, string Text)> Prose(string markdown)
    {
        string? fence = null;
        var lines = markdown.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].TrimStart();
            var m = Regex.Match(trimmed, @"^(`{3,}|~{3,})");
            if (m.Success)
            {
                if (fence is null) fence = m.Groups[1].Value;
                else if (trimmed.StartsWith(fence, StringComparison.Ordinal) && trimmed.TrimEnd().Trim(fence[0]).Length == 0) fence = null;
                continue;
            }
            if (fence is null) yield return (i + 1, lines[i].TrimEnd('\r'));
        }
    }

    static readonly Regex CodeSpan = new(@"(`+)(.+?)\1", RegexOptions.Compiled);
    static readonly Regex InlineLink = new(@"!?\[(?<text>[^\[\]]*)\]\((?<target>[^()\s]+)(?:\s+""[^""]*"")?\)", RegexOptions.Compiled);
    static readonly Regex LinkDefinition = new(@"^\s{0,3}\[(?<text>[^\]]+)\]:\s*(?<target>\S+)", RegexOptions.Compiled);

    /// <summary>Inline links, images and link definitions outside code, with their line numbers.</summary>
    static IEnumerable<(int Line, string Text, string Target)> Links(string markdown)
    {
        foreach (var (no, line) in Prose(markdown))
        {
            var code = CodeSpan.Replace(line, "");
            foreach (Match m in InlineLink.Matches(code)) yield return (no, m.Groups["text"].Value, m.Groups["target"].Value);
            var d = LinkDefinition.Match(code);
            if (d.Success) yield return (no, d.Groups["text"].Value, d.Groups["target"].Value);
        }
    }

    /// <summary>The anchors GitHub gives the headings of a Markdown text (a repeated one gets -1, -2, ...), plus explicit
    /// <c>&lt;a name="..."&gt;</c> / <c>id="..."</c> anchors.</summary>
    static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (_, line) in Prose(markdown))
        {
            foreach (Match m in Regex.Matches(line, @"<a\s+(?:name|id)=""([^""]+)""")) anchors.Add(m.Groups[1].Value);
            var h = Regex.Match(line, @"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$");
            if (!h.Success) continue;
            var anchor = Anchor(h.Groups[1].Value);
            var n = seen.GetValueOrDefault(anchor);
            seen[anchor] = n + 1;
            anchors.Add(n == 0 ? anchor : $"{anchor}-{n}");
        }
        return anchors;
    }

    /// <summary>GitHub's anchor for a heading: its rendered text (code marks dropped, links as their text), lower case,
    /// every character but letters, digits, '_', '-' and spaces dropped, spaces turned into '-'.</summary>
    static string Anchor(string heading)
    {
        var text = InlineLink.Replace(heading, m => m.Groups["text"].Value).Replace("`", "");
        var sb = new StringBuilder();
        foreach (var c in text.ToLowerInvariant())
        {
            var cat = char.GetUnicodeCategory(c);
            if (c == ' ') sb.Append('-');
            else if (c == '-' || char.IsLetter(c) || char.IsNumber(c) || cat is UnicodeCategory.NonSpacingMark
                     or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.ConnectorPunctuation) sb.Append(c);
        }
        return sb.ToString();
    }
}
