using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AvBert.Config;

/// <summary>
/// Reads a YAML document the user gave (a config file, a preset, a --set value, the authors' config) with the checks
/// every reader needs: aliases may not expand to more than <see cref="MaxNodes"/> nodes (a "billion laughs" document is
/// refused at once instead of being expanded, exponentially, by later steps or error messages), and every key must be a
/// plain scalar (a list or mapping used as a key is an error naming its line).
/// </summary>
public static class YamlInput
{
    /// <summary>Most nodes a document may hold once its aliases are expanded (configs have a few hundred).</summary>
    public const int MaxNodes = 100_000;

    /// <summary>The root mapping of <paramref name="yaml"/> (empty for an empty document); <paramref name="topLevel"/> says
    /// what the top level should hold, for the error when it is not a mapping.</summary>
    public static YamlMappingNode ParseMapping(string yaml, string source, string topLevel)
    {
        var root = Parse(yaml, source);
        if (root is null) return new YamlMappingNode();
        return root as YamlMappingNode ?? throw new ConfigError($"{source}: the top level must be a mapping of {topLevel}.");
    }

    /// <summary>The root node of <paramref name="yaml"/>, or null for an empty document; throws <see cref="ConfigError"/>
    /// for invalid YAML, too many nodes, or complex keys.</summary>
    public static YamlNode? Parse(string yaml, string source)
    {
        YamlStream stream;
        try
        {
            stream = new YamlStream();
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new ConfigError($"{source}: not valid YAML at line {e.Start.Line}, column {e.Start.Column}: {Runtime.ErrorReport.OneLine(e.Message, 200)}");
        }
        if (stream.Documents.Count == 0) return null;
        var root = stream.Documents[0].RootNode;
        long budget = MaxNodes;
        Check(root, source, ref budget, 0);
        return root;
    }

    const int MaxDepth = 100;

    static void Check(YamlNode node, string source, ref long budget, int depth)
    {
        if (--budget < 0)
            throw new ConfigError($"{source}: the YAML expands to more than {MaxNodes} values (aliases (*name) nested inside each other, " +
                                  $"near line {node.Start.Line}): write the values out instead");
        if (depth > MaxDepth) throw new ConfigError($"{source}: line {node.Start.Line}: nested more than {MaxDepth} levels deep");
        switch (node)
        {
            case YamlMappingNode m:
                foreach (var (k, v) in m.Children)
                {
                    if (k is not YamlScalarNode)
                        throw new ConfigError($"{source}: line {k.Start.Line}, column {k.Start.Column}: a key must be a plain name, " +
                                              $"not a {(k is YamlSequenceNode ? "list" : "mapping")} (complex '? ...' keys are not supported)");
                    Check(v, source, ref budget, depth + 1);
                }
                break;
            case YamlSequenceNode s:
                foreach (var c in s.Children) Check(c, source, ref budget, depth + 1);
                break;
        }
    }

    /// <summary>A node written for an error message: scalars as they are, lists and mappings cut to a short prefix.</summary>
    public static string Short(YamlNode node)
    {
        var text = node is YamlScalarNode s ? s.Value ?? "" : node.ToString();
        return Runtime.ErrorReport.OneLine(text, 80);
    }
}
