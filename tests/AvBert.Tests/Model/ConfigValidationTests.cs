using AvBert.Config;
using AvBert.Model;

namespace AvBert.Tests.Model;

public class ConfigValidationTests
{
    [Theory]
    [InlineData("model.transformer.hidden_act=sparkle", "model.transformer.hidden_act: sparkle")]
    [InlineData("model.transformer.num_layer_groups=9", "model.transformer.num_layer_groups: 9")]
    [InlineData("model.visual.num_groups=3", "model.visual.num_groups: 3")]
    [InlineData("model.visual.temporal_kernel_blocks=[3, 9, 6, 3]", "model.visual.temporal_kernel_blocks")]
    [InlineData("model.audio.stem_kernel=4", "model.audio.stem_kernel: 4")]
    [InlineData("model.transformer.share_across_transformers=some", "model.transformer.share_across_transformers")]
    public void Bad_model_settings_are_refused_when_the_config_loads(string set, string named)
    {
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(overrides: [set]));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void A_model_built_in_code_from_a_bad_config_is_refused_with_the_field()
    {
        var bad = TinyModels.Model() with { Transformer = TinyModels.Model().Transformer with { HiddenSize = 10, NumHeads = 3 } };
        var e = Assert.Throws<ConfigError>(() => new AvBertModel(bad, TinyModels.Data));
        Assert.Contains("model.transformer.hidden_size: 10", e.Message);
    }

    [Fact]
    public void Every_model_option_round_trips_through_yaml_and_set()
    {
        var cfg = ConfigLoader.Load(overrides: ["model.visual.block=basic", "model.audio.separable_stages=[false, true, true, false]",
                                                "model.transformer.share_across_transformers=lowrank", "model.transformer.orthogonal_map=cayley",
                                                "model.fusion=late"]);
        Assert.Equal(ResNetBlock.Basic, cfg.Model.Visual.Block);
        Assert.Equal(CrossTransformerSharing.LowRank, cfg.Model.Transformer.ShareAcrossTransformers);
        Assert.Equal(OrthogonalMap.Cayley, cfg.Model.Transformer.OrthogonalMap);
        var path = Path.Combine(TestSetup.TempDir("cfg"), "c.yaml");
        ConfigLoader.Save(cfg, path);
        Assert.Equal(ConfigLoader.ToYaml(cfg), ConfigLoader.ToYaml(ConfigLoader.LoadFile(path)));
    }
}
