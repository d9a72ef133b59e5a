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
}
