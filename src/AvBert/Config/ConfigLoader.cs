using System.Globalization;
using System.Reflection;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace AvBert.Config;

/// <summary>
/// Builds an <see cref="AvBertConfig"/> from layers: the record defaults (the paper's numbers), a named preset,
/// an optional YAML file and <c>--set section.key=value</c> overrides, in that order. Every key is checked against the
/// records: an unknown key, a bad value or a failed check is a <see cref="ConfigError"/> naming the source, the field
/// and what would be valid.
/// </summary>
public static class ConfigLoader
{
    public static readonly IReadOnlyList<string> Presets = ["full", "small"];

    static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithEventEmitter(next => new FlowSequences(next))
        .WithEnumNamingConvention(UnderscoredNamingConvention.Instance)
        .DisableAliases()
        .Build();

    static readonly IDeserializer Deserializer = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithEnumNamingConvention(UnderscoredNamingConvention.Instance)
        .Build();

    /// <summary>defaults ← preset ← base overrides ← file ← overrides. <paramref name="baseOverrides"/> are <c>key=value</c>
    /// settings a command chooses for the user (finetune's from-scratch settings): the user's file and --set win over them.</summary>
    public static AvBertConfig Load(string? preset = null, string? file = null, IEnumerable<string>? overrides = null,
                                    IEnumerable<string>? baseOverrides = null)
    {
        var tree = ToTree(new AvBertConfig());
        var schema = ToTree(new AvBertConfig());
        preset ??= "full";
        if (!Presets.Contains(preset))
            throw new ConfigError($"--preset {preset}: unknown preset. Valid: {string.Join(", ", Presets)}.");
        if (preset != "full")
            Merge(tree, Parse(ReadPreset(preset), $"preset '{preset}'"), schema, $"preset '{preset}'", "");
        foreach (var o in baseOverrides ?? []) ApplyOverride(tree, schema, o);
        if (file is not null)
        {
            if (!File.Exists(file)) throw new ConfigError($"--config {file}: file not found.");
            Merge(tree, Parse(File.ReadAllText(file), file), schema, file, "");
        }
        var sets = (overrides ?? []).ToList();
        foreach (var o in sets) ApplyOverride(tree, schema, o);
        var source = $"config (preset {preset}" + (file is null ? "" : $", {file}") + (sets.Count == 0 ? "" : ", --set " + string.Join(" --set ", sets)) + ")";
        return FromTree(tree, source);
    }

    /// <summary>Reads a config.yaml written by <see cref="Save"/> (or by hand), with the same checks.</summary>
    public static AvBertConfig LoadFile(string path, IEnumerable<string>? overrides = null)
    {
        if (!File.Exists(path)) throw new ConfigError($"{path}: file not found.");
        var tree = ToTree(new AvBertConfig());
        var schema = ToTree(new AvBertConfig());
        Merge(tree, Parse(File.ReadAllText(path), path), schema, path, "");
        var sets = (overrides ?? []).ToList();
        foreach (var o in sets) ApplyOverride(tree, schema, o);
        return FromTree(tree, sets.Count == 0 ? path : $"{path} (with --set {string.Join(" --set ", sets)})");
    }

    public static string ToYaml(AvBertConfig config) => Serializer.Serialize(config);

    public static void Save(AvBertConfig config, string path)
    {
        AvBert.Storage.AtomicFile.WriteAllText(path, ToYaml(config));
    }

    static string ReadPreset(string name)
    {
        var asm = typeof(ConfigLoader).Assembly;
        var res = asm.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith($".Presets.{name}.yaml"))
                  ?? throw new ConfigError($"preset '{name}' is not built in.");
        using var s = asm.GetManifestResourceStream(res)!;
        return new StreamReader(s).ReadToEnd();
    }

    static YamlMappingNode ToTree(AvBertConfig c) => Parse(Serializer.Serialize(c), "defaults");

    static YamlMappingNode Parse(string yaml, string source) => YamlInput.ParseMapping(yaml, source, "sections (model:, data:, ...)");

    /// <summary>Copies <paramref name="from"/> into <paramref name="into"/>, refusing keys the schema does not have.</summary>
    static void Merge(YamlMappingNode into, YamlMappingNode from, YamlMappingNode schema, string source, string prefix)
    {
        foreach (var (k, v) in from.Children)
        {
            var key = ((YamlScalarNode)k).Value!;
            var path = prefix.Length == 0 ? key : $"{prefix}.{key}";
            var schemaKey = new YamlScalarNode(key);
            if (!schema.Children.TryGetValue(schemaKey, out var schemaChild))
                throw new ConfigError($"{source}: unknown key '{path}'. Valid keys{(prefix.Length == 0 ? "" : $" under '{prefix}'")}: " +
                                      $"{string.Join(", ", schema.Children.Keys.Select(x => ((YamlScalarNode)x).Value))}.");
            if (schemaChild is YamlMappingNode schemaMap)
            {
                if (v is not YamlMappingNode vMap)
                    throw new ConfigError($"{source}: '{path}' must be a section (a mapping), not a value.");
                Merge((YamlMappingNode)into.Children[schemaKey], vMap, schemaMap, source, path);
            }
            else
            {
                if (v is YamlMappingNode)
                    throw new ConfigError($"{source}: '{path}' is a value, not a section.");
                into.Children[schemaKey] = v;
            }
        }
    }

    static void ApplyOverride(YamlMappingNode tree, YamlMappingNode schema, string expr)
    {
        int eq = expr.IndexOf('=');
        if (eq <= 0) throw new ConfigError($"--set {expr}: expected key=value, e.g. --set model.transformer.num_layers=2.");
        var path = expr[..eq].Trim();
        var value = expr[(eq + 1)..].Trim();
        var parts = path.Split('.');
        // Build a nested mapping for the override and merge it with the same checks as a file.
        YamlNode valueNode;
        try { valueNode = YamlInput.ParseMapping($"v: {value}", $"--set {expr}", "values").Children[new YamlScalarNode("v")]; }
        catch (ConfigError e) when (!e.Message.Contains("expands to more than")) { valueNode = new YamlScalarNode(value); }
        YamlNode node = valueNode;
        for (int i = parts.Length - 1; i >= 0; i--)
            node = new YamlMappingNode(new YamlScalarNode(parts[i]), node);
        Merge(tree, (YamlMappingNode)node, schema, $"--set {expr}", "");
    }

    static AvBertConfig FromTree(YamlMappingNode tree, string source)
    {
        AvBertConfig config;
        try
        {
            config = Deserializer.Deserialize<AvBertConfig>(Emit(tree));
        }
        catch (YamlException)
        {
            var field = FindBadField(tree, out var bad);
            var expected = DescribeField(field);
            throw new ConfigError($"{source}: '{field}: {bad}' is not a valid value; expected {expected}.");
        }
        ConfigValidator.Validate(config, source);
        return config;
    }

    // Error path only: find the leaf whose value does not deserialise by trying each one alone on the defaults.
    static string FindBadField(YamlMappingNode tree, out string value)
    {
        foreach (var (path, node) in Leaves(tree, ""))
        {
            var probe = ToTree(new AvBertConfig());
            var parts = path.Split('.');
            var m = probe;
            for (int i = 0; i < parts.Length - 1; i++) m = (YamlMappingNode)m.Children[new YamlScalarNode(parts[i])];
            m.Children[new YamlScalarNode(parts[^1])] = node;
            try { Deserializer.Deserialize<AvBertConfig>(Emit(probe)); }
            catch (YamlException) { value = YamlInput.Short(node); return path; }
        }
        value = "?";
        return "?";
    }

    static IEnumerable<(string, YamlNode)> Leaves(YamlMappingNode m, string prefix)
    {
        foreach (var (k, v) in m.Children)
        {
            var path = prefix.Length == 0 ? ((YamlScalarNode)k).Value! : $"{prefix}.{((YamlScalarNode)k).Value}";
            if (v is YamlMappingNode vm) foreach (var x in Leaves(vm, path)) yield return x;
            else yield return (path, v);
        }
    }

    static string Emit(YamlMappingNode tree)
    {
        var sw = new StringWriter();
        new YamlStream(new YamlDocument(tree)).Save(sw, assignAnchors: false);
        return sw.ToString();
    }

    /// <summary>The CLR type behind a dotted key, described for an error message.</summary>
    static string DescribeField(string dotted)
    {
        Type t = typeof(AvBertConfig);
        foreach (var part in dotted.Split('.'))
        {
            var prop = t.GetProperties().FirstOrDefault(p => UnderscoredNamingConvention.Instance.Apply(p.Name) == part);
            if (prop is null) return "a value of the default's type";
            t = prop.PropertyType;
        }
        // The names in declaration order (Enum.GetNames sorts by value): a [Flags] set lists its default first, as declared.
        if (t.IsEnum) return "one of " + string.Join(", ", t.GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => UnderscoredNamingConvention.Instance.Apply(f.Name)));
        if (t.IsArray) return $"a list of {Describe(t.GetElementType()!)} like [1, 2]";
        return Describe(t);
        static string Describe(Type x) => x == typeof(int) ? "an integer" : x == typeof(double) ? "a number" :
            x == typeof(bool) ? "true or false" : x == typeof(string) ? "a string" : x.Name;
    }

    /// <summary>Lists print on one line ([3, 4, 6, 3]): configs stay short and diff well.</summary>
    sealed class FlowSequences(IEventEmitter next) : YamlDotNet.Serialization.EventEmitters.ChainedEventEmitter(next)
    {
        public override void Emit(SequenceStartEventInfo eventInfo, IEmitter emitter)
        {
            eventInfo.Style = YamlDotNet.Core.Events.SequenceStyle.Flow;
            base.Emit(eventInfo, emitter);
        }
    }

    /// <summary>A dotted-key listing of every field and its current value (used by `avbert config`).</summary>
    public static IEnumerable<(string Key, string Value)> Flatten(AvBertConfig config)
    {
        var tree = ToTree(config);
        foreach (var kv in FlattenNode(tree, "")) yield return kv;
    }

    static IEnumerable<(string, string)> FlattenNode(YamlMappingNode m, string prefix)
    {
        foreach (var (k, v) in m.Children)
        {
            var path = prefix.Length == 0 ? ((YamlScalarNode)k).Value! : $"{prefix}.{((YamlScalarNode)k).Value}";
            if (v is YamlMappingNode vm) foreach (var x in FlattenNode(vm, path)) yield return x;
            else if (v is YamlSequenceNode seq) yield return (path, "[" + string.Join(", ", seq.Children.Select(c => c.ToString())) + "]");
            else yield return (path, v.ToString());
        }
    }
}
