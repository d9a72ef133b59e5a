using AvBert.Config;

namespace AvBert.Tests.Config;

public class ConfigLoaderTests
{
    [Fact]
    public void Defaults_are_the_papers_numbers()
    {
        var c = ConfigLoader.Load();
        Assert.Equal(768, c.Model.Transformer.HiddenSize);
        Assert.Equal(6, c.Model.Transformer.NumLayers);
        Assert.Equal(CrossTransformerSharing.Partial, c.Model.Transformer.ShareAcrossTransformers);
        Assert.Equal(94080, c.Data.AudioClipSamples);
        Assert.Equal(new[] { 3, 4, 6, 3 }, c.Model.Visual.StageBlocks);
    }

    [Fact]
    public void Preset_file_and_set_layer_in_order()
    {
        var dir = TestSetup.TempDir("cfg");
        var file = Path.Combine(dir, "c.yaml");
        File.WriteAllText(file, "model:\n  transformer:\n    num_layers: 5\n    num_heads: 2\n");
        var c = ConfigLoader.Load("small", file, ["model.transformer.num_layers=3", "model.fusion=late", "model.visual.stage_blocks=[2, 2, 2, 2]"]);
        Assert.Equal(128, c.Model.Transformer.HiddenSize);   // from the preset
        Assert.Equal(2, c.Model.Transformer.NumHeads);       // from the file
        Assert.Equal(3, c.Model.Transformer.NumLayers);      // --set wins over the file
        Assert.Equal(Fusion.Late, c.Model.Fusion);
        Assert.Equal(new[] { 2, 2, 2, 2 }, c.Model.Visual.StageBlocks);
    }

    [Fact]
    public void Yaml_round_trips_exactly()
    {
        var c = ConfigLoader.Load("small", null, ["model.transformer.share_across_transformers=all", "model.transformer.share_across_layers=false"]);
        var dir = TestSetup.TempDir("cfg");
        var path = Path.Combine(dir, "config.yaml");
        ConfigLoader.Save(c, path);
        var back = ConfigLoader.LoadFile(path);
        Assert.Equal(ConfigLoader.ToYaml(c), ConfigLoader.ToYaml(back));
        Assert.Equal(CrossTransformerSharing.All, back.Model.Transformer.ShareAcrossTransformers);
        Assert.False(back.Model.Transformer.ShareAcrossLayers);
    }

    [Theory]
    [InlineData("model.transformr.num_layers=2", "unknown key 'model.transformr'")]
    [InlineData("model.transformer.num_layers=abc", "'model.transformer.num_layers: abc' is not a valid value; expected an integer")]
    [InlineData("model.fusion=sideways", "expected one of early, mid, late")]
    [InlineData("model.transformer.hidden_size=100", "must be a positive multiple of model.transformer.num_heads")]
    [InlineData("data.sequence_length=30", "model.transformer.max_positions")]
    [InlineData("pretrain.cpp_extra_pairs=-1", "pretrain.cpp_extra_pairs")]
    [InlineData("num_layers", "expected key=value")]
    public void Bad_overrides_name_the_field_and_the_fix(string set, string expected)
    {
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, null, [set]));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Bad_file_names_the_file()
    {
        var dir = TestSetup.TempDir("cfg");
        var file = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(file, "model:\n  visual:\n    widht_per_group: 4\n");
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, file));
        Assert.Contains(file, e.Message);
        Assert.Contains("model.visual.widht_per_group", e.Message);
        Assert.Contains("width_per_group", e.Message); // lists the valid keys
        Assert.Throws<ConfigError>(() => ConfigLoader.Load("huge"));
    }

    [Fact]
    public void A_billion_laughs_document_is_refused_at_once_with_one_short_line()
    {
        var dir = TestSetup.TempDir("cfg");
        var file = Path.Combine(dir, "laughs.yaml");
        var lines = new List<string> { "a0: &a0 [x, x, x, x, x, x, x, x, x, x]" };
        for (int i = 1; i < 9; i++) lines.Add($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]");
        lines.Add("model:\n  transformer:\n    num_layers: *a8"); // 10^9 values once expanded
        File.WriteAllText(file, string.Join("\n", lines) + "\n");
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, file));
        Assert.Contains("expands to more than", e.Message);
        Assert.True(e.Message.Length < 300, e.Message);
        // The same through --set, and a few aliases are fine.
        Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, null, ["model.visual.stage_blocks=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], " +
            "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]"]));
        File.WriteAllText(file, "x: &n 3\nmodel:\n  transformer:\n    num_layers: 2\n");
        Assert.Contains("unknown key 'x'", Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, file)).Message);
    }

    [Fact]
    public void A_list_or_mapping_used_as_a_key_is_an_error_naming_the_line()
    {
        var dir = TestSetup.TempDir("cfg");
        var file = Path.Combine(dir, "complex.yaml");
        File.WriteAllText(file, "model:\n  ? [a, b]\n  : 1\n");
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, file));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("plain name", e.Message);
        File.WriteAllText(file, "? {model: 1}\n: 2\n");
        Assert.Contains("line 1", Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, file)).Message);
    }
}
