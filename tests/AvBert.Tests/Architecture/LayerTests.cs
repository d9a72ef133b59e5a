using System.Text.RegularExpressions;
using AvBert.Data.Sources;

namespace AvBert.Tests.Architecture;

/// <summary>
/// The layer rule of README.md (Layout): every folder of src/AvBert is a namespace, the CLI is one more, and each may use
/// only the namespaces of the layers below its own; the CLI parses, calls one job of Runs/ and prints, so it uses only
/// Runs, Config and Runtime. Read from the source: the <c>using AvBert.…</c> lines (also static and alias usings) and the
/// names written out in code (<c>AvBert.X.Type</c>, or <c>X.Type</c> relative to an AvBert namespace), comments and
/// strings left aside.
/// </summary>
public class LayerTests
{
    /// <summary>The layers, highest first: a namespace uses only namespaces of lower layers (none beside it).</summary>
    public static readonly string[][] Layers =
    [
        ["Cli"],
        ["Runs"],
        ["Export"],
        ["Pretraining", "Downstream"],
        ["RealMedia"],
        ["Synthetic"],
        ["Data", "Training"],
        ["Model", "Distributed", "Features", "Media"],
        ["Config"],
        ["Storage"],
        ["Runtime"],
    ];

    /// <summary>What the CLI may use, narrower than the layers below it.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> OnlyUses = new Dictionary<string, string[]>
    {
        ["Cli"] = ["Runs", "Config", "Runtime"],
    };

    /// <summary>Folders inside one namespace's folder whose use goes one way only (finer than <see cref="Layers"/>, which
    /// sees Data as one): the first reads through the second (it uses the second's types), the second never names the first
    /// (its types or its namespace). The prepared set (<c>avbert prep</c>) is a source of items built on the sources; the
    /// sources learn of its spec kind only by registration (<c>SourceLoader.AddKind</c>).</summary>
    public static readonly (string Upper, string Lower)[] OneWay =
    [
        ("Data/Prepared", "Data/Sources"),
        ("Data/*", "Data/Sources"),       // Data/*: the files of Data/ itself, not its subfolders
    ];

    static IEnumerable<LayerChecker.SourceFile> SourceFiles()
    {
        var src = Path.Combine(TestSetup.RepoRoot, "src");
        foreach (var project in new[] { "AvBert", "AvBert.Cli" })
        {
            var dir = Path.Combine(src, project);
            foreach (var file in Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var rel = Path.GetRelativePath(dir, file).Replace('\\', '/');
                if (rel.StartsWith("obj/", StringComparison.Ordinal) || rel.StartsWith("bin/", StringComparison.Ordinal)) continue;
                var layer = project == "AvBert.Cli" ? "Cli" : rel.Contains('/') ? rel[..rel.IndexOf('/')] : "";
                yield return new LayerChecker.SourceFile($"src/{project}/{rel}", layer, File.ReadAllText(file));
            }
        }
    }

    [Fact]
    public void The_layers_name_every_folder_of_the_library_once()
    {
        var named = Layers.SelectMany(l => l).ToList();
        Assert.Equal(named.Count, named.Distinct().Count());
        var folders = Directory.GetDirectories(Path.Combine(TestSetup.RepoRoot, "src", "AvBert")).Select(Path.GetFileName)
            .Where(f => f is not ("obj" or "bin")).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(folders, named.Where(n => n != "Cli").Order(StringComparer.Ordinal).ToList());
    }

    [Fact]
    public void No_namespace_uses_one_above_or_beside_it_and_the_cli_uses_only_runs_config_and_runtime()
    {
        var files = SourceFiles().ToList();
        Assert.Contains(files, f => f.Layer == "Cli");
        var violations = LayerChecker.Violations(files, Layers, OnlyUses);
        Assert.True(violations.Count == 0, $"{violations.Count} use(s) against the layer rule (README.md, Layout; move the code down, " +
                                           "or the job into Runs/):\n" + string.Join("\n", violations));
    }

    [Fact]
    public void Within_data_the_prepared_set_and_the_loader_use_the_sources_and_the_sources_name_neither()
    {
        var lib = Path.Combine(TestSetup.RepoRoot, "src", "AvBert");
        string[] Read(string folder) => Directory.GetFiles(Path.Combine(lib, folder.TrimEnd('*', '/')), "*.cs",
                                                           folder.EndsWith("/*") ? SearchOption.TopDirectoryOnly : SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).Select(File.ReadAllText).ToArray();
        foreach (var (upper, lower) in OneWay)
        {
            string[] up = Read(upper), low = Read(lower);
            var upperTypes = up.SelectMany(LayerChecker.TopLevelTypes).ToHashSet();
            var lowerTypes = low.SelectMany(LayerChecker.TopLevelTypes).ToHashSet();
            Assert.NotEmpty(upperTypes);
            // A folder's own files share their namespace prefix with its subfolders: there only the type names count.
            var upperNamespace = upper.EndsWith("/*") ? null : "AvBert." + upper.Replace('/', '.');
            Assert.Contains(up, f => LayerChecker.Mentions(f, lowerTypes, null).Count > 0);          // the edge down exists
            var back = low.SelectMany(f => LayerChecker.Mentions(f, upperTypes, upperNamespace)).ToList();
            Assert.True(back.Count == 0, $"{lower} names {upper} ({string.Join(", ", back.Distinct())}): {upper} uses {lower}, not the other way");
        }
    }

    [Fact]
    public void The_checker_reads_usings_and_names_written_out_but_not_comments_or_strings()
    {
        const string source = """
            using System.Text;
            using AvBert.Data.Prepared;
            using static AvBert.Media.MediaOptions;
            using Store = AvBert.Training.CheckpointStore;
            namespace AvBert.Model;
            // AvBert.Runs.PretrainRun in a comment; /// <see cref="AvBert.Cli.CliRunner"/> too
            /* AvBert.Pretraining.Masker */
            public static class C
            {
                static string Name => "AvBert.Cli.dll";
                static string Verbatim => @"AvBert.Runs.""quoted"".x";
                static object Q => AvBert.Downstream.Prediction.Top;
                static object R => Runtime.ExitCodes.Ok;
                static object P(Probe p) => p.Data.Count;
            }
            """;
        var used = LayerChecker.References(source, Layers.SelectMany(l => l).ToHashSet()).Select(r => r.Namespace).ToList();
        Assert.Equal(["Data", "Media", "Training", "Downstream", "Runtime"], used);
    }

    [Fact]
    public void The_checker_refuses_an_upward_a_sideways_and_a_forbidden_use()
    {
        LayerChecker.SourceFile File(string path, string layer, string source) => new(path, layer, source);
        var files = new[]
        {
            File("src/AvBert/Model/Up.cs", "Model", "using AvBert.Runs;\nnamespace AvBert.Model;\n"),
            File("src/AvBert/Data/Beside.cs", "Data", "namespace AvBert.Data;\nclass B { object T => AvBert.Training.Seeding.Seed; }\n"),
            File("src/AvBert.Cli/Commands/Deep.cs", "Cli", "using AvBert.Model;\nnamespace AvBert.Cli.Commands;\n"),
            File("src/AvBert/Runs/Fine.cs", "Runs", "using AvBert.Model;\nusing AvBert.Runtime;\nnamespace AvBert.Runs;\n"),
            File("src/AvBert.Cli/Commands/Fine.cs", "Cli", "using AvBert.Runs;\nusing AvBert.Config;\nnamespace AvBert.Cli.Commands;\n"),
        };
        var violations = LayerChecker.Violations(files, Layers, OnlyUses);
        Assert.Equal(3, violations.Count);
        Assert.Contains(violations, v => v.StartsWith("src/AvBert/Model/Up.cs:1: Model uses Runs", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.StartsWith("src/AvBert/Data/Beside.cs:2: Data uses Training", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.StartsWith("src/AvBert.Cli/Commands/Deep.cs:1: Cli uses Model", StringComparison.Ordinal));
        // A namespace the layers do not name is a violation too, so that a new folder must take its place in the table.
        Assert.Single(LayerChecker.Violations([File("src/AvBert/Gadgets/X.cs", "Gadgets", "namespace AvBert.Gadgets;\n")], Layers, OnlyUses));
    }
}

/// <summary>Finds the AvBert namespaces a C# file uses and checks them against a table of layers.</summary>
public static class LayerChecker
{
    /// <summary>A source file, its path (for messages) and the namespace (layer member) it belongs to.</summary>
    public sealed record SourceFile(string Path, string Layer, string Source);

    /// <summary>One use of namespace <paramref name="Namespace"/> on line <paramref name="Line"/>.</summary>
    public sealed record Reference(string Namespace, int Line);

    static readonly Regex Using = new(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?AvBert\.(\w+)", RegexOptions.Multiline);
    static readonly Regex Declaration = new(@"^\s*namespace\s+AvBert\b", RegexOptions.Multiline);

    /// <summary>The uses of the namespaces in <paramref name="known"/>, in order: usings, then names written out in code
    /// (fully qualified, or relative to an AvBert namespace when the file declares one; a member access like <c>x.Data</c>
    /// does not count).</summary>
    public static IReadOnlyList<Reference> References(string source, ISet<string> known)
    {
        var code = WithoutCommentsAndStrings(source);
        var found = new List<Reference>();
        foreach (Match m in Using.Matches(code))
            if (known.Contains(m.Groups[1].Value)) found.Add(new Reference(m.Groups[1].Value, LineOf(code, m.Index)));
        var names = string.Join("|", known.Select(Regex.Escape));
        var relative = Declaration.IsMatch(code) ? $"|(?<![\\w.])(?<rel>{names})\\.(?=[A-Z])" : "";
        var written = new Regex($@"(?<![\w.])AvBert\.(?<abs>\w+)\.{relative}");
        foreach (Match m in written.Matches(code))
        {
            int line = LineOf(code, m.Index);
            var text = code[LineStart(code, m.Index)..m.Index];
            if (Regex.IsMatch(text, @"^\s*(?:global\s+)?(?:using|namespace)\b")) continue;
            var ns = m.Groups["abs"].Success ? m.Groups["abs"].Value : m.Groups["rel"].Value;
            if (known.Contains(ns)) found.Add(new Reference(ns, line));
        }
        return found;
    }

    /// <summary>One line per use against the rule: "PATH:LINE: FROM uses TO (…)"; a layer the table does not name is one too.</summary>
    public static IReadOnlyList<string> Violations(IEnumerable<SourceFile> files, string[][] layers, IReadOnlyDictionary<string, string[]> onlyUses)
    {
        var rank = new Dictionary<string, int>();
        for (int i = 0; i < layers.Length; i++)
            foreach (var ns in layers[i]) rank[ns] = layers.Length - i;
        var known = rank.Keys.ToHashSet();
        var problems = new List<string>();
        foreach (var f in files)
        {
            if (!rank.TryGetValue(f.Layer, out int own))
            {
                problems.Add($"{f.Path}: namespace {f.Layer} has no layer in the table (add it where its uses put it)");
                continue;
            }
            foreach (var r in References(f.Source, known).Where(r => r.Namespace != f.Layer))
            {
                if (onlyUses.TryGetValue(f.Layer, out var only) && !only.Contains(r.Namespace))
                    problems.Add($"{f.Path}:{r.Line}: {f.Layer} uses {r.Namespace}; it may use only {string.Join(", ", only)}");
                else if (rank[r.Namespace] >= own)
                    problems.Add($"{f.Path}:{r.Line}: {f.Layer} uses {r.Namespace}, which is {(rank[r.Namespace] == own ? "beside" : "above")} it");
            }
        }
        return problems;
    }

    /// <summary>The types a file declares at its top level (a file-scoped namespace's types start their line).</summary>
    public static IEnumerable<string> TopLevelTypes(string source) =>
        Regex.Matches(WithoutCommentsAndStrings(source),
                      @"^(?:(?:public|internal|static|sealed|abstract|partial|readonly|file)\s+)*(?:class|record|struct|enum|interface)\s+(?:(?:class|struct)\s+)?(\w+)",
                      RegexOptions.Multiline).Select(m => m.Groups[1].Value);

    /// <summary>The names of <paramref name="types"/> a file's code (not its comments or strings) writes, and
    /// <paramref name="ns"/> when it uses that namespace (a using, or a name qualified by it or by its last part).</summary>
    public static IReadOnlyList<string> Mentions(string source, ISet<string> types, string? ns)
    {
        var code = WithoutCommentsAndStrings(source);
        var found = Regex.Matches(code, @"(?<![\w.])\w+\b").Select(m => m.Value).Where(types.Contains).ToList();
        if (ns is not null && (code.Contains(ns + ".", StringComparison.Ordinal) || code.Contains(ns + ";", StringComparison.Ordinal)
                               || Regex.IsMatch(code, $@"(?<![\w.]){Regex.Escape(ns[(ns.LastIndexOf('.') + 1)..])}\.(?=[A-Z])")))
            found.Add(ns);
        return found;
    }

    /// <summary><paramref name="source"/> with comments and string and character literals blanked (line breaks kept).</summary>
    static string WithoutCommentsAndStrings(string source)
    {
        var s = source.ToCharArray();
        for (int i = 0; i < s.Length; i++)
        {
            int start = i;
            if (s[i] == '/' && i + 1 < s.Length && s[i + 1] == '/')
                while (i < s.Length && s[i] != '\n') i++;
            else if (s[i] == '/' && i + 1 < s.Length && s[i + 1] == '*')
            {
                i = source.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = i < 0 ? s.Length : i + 1;
            }
            else if (s[i] == '"' && i + 2 < s.Length && s[i + 1] == '"' && s[i + 2] == '"')
            {
                i = source.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
                i = i < 0 ? s.Length : i + 2;
            }
            else if (s[i] == '"' || s[i] == '\'')
            {
                bool verbatim = i > 0 && s[i - 1] == '@' || i > 1 && s[i - 1] == '$' && s[i - 2] == '@';
                char quote = s[i];
                for (i++; i < s.Length && s[i] != '\n'; i++)
                {
                    if (verbatim && s[i] == '"' && i + 1 < s.Length && s[i + 1] == '"') { i++; continue; }
                    if (!verbatim && s[i] == '\\') { i++; continue; }
                    if (s[i] == quote) break;
                }
            }
            else continue;
            for (int j = start; j <= Math.Min(i, s.Length - 1); j++)
                if (s[j] != '\n') s[j] = ' ';
        }
        return new string(s);
    }

    static int LineOf(string text, int index) => 1 + text.AsSpan(0, index).Count('\n');

    static int LineStart(string text, int index) => index == 0 ? 0 : text.LastIndexOf('\n', index - 1) + 1;
}
