using AvBert.Config;
using AvBert.Model;
using AvBert.Model.Reference;
using AvBert.Runtime;

namespace AvBert.Tests.Model.Reference;

public class ReferenceConfigTests
{
    /// <summary>The model-shaping sections of the authors' code/configs/kinetics-sounds/config.yaml (the released setting).</summary>
    const string KineticsSounds = """
        VIS:
          ARCH: resnet
          MODEL_NAME: ResNet
        RESNET:
          TRANS_FUNC: bottleneck_transform
          NUM_GROUPS: 1
          WIDTH_PER_GROUP: 64
          INPLACE_RELU: True
          STRIDE_1X1: False
          DEPTH: 50
          NUM_BLOCK_TEMP_KERNEL: [[3], [4], [6], [3]]
          SPATIAL_STRIDES: [[1], [2], [2], [2]]
          SPATIAL_DILATIONS: [[1], [1], [1], [1]]
        AUD:
          ARCH: resnet
          MODEL_NAME: AudioResNet
        AUDIO_RESNET:
          TRANS_FUNC: bottleneck_transform
          NUM_GROUPS: 1
          WIDTH_PER_GROUP: 32
          INPLACE_RELU: True
          STRIDE_1X1: False
          DEPTH: 50
          STRIDES: [2, 2, 2, 2]
          DILATIONS: [1, 1, 1, 1]
        MODEL:
          TASK: MultimodalSequenceClassify
          ZERO_INIT_FINAL_BN: True
          EPSILON: 1e-5
          MOMENTUM: 0.1
          POOLING: True
          ARCH: visual_audio
          FUSION: mid
        TRANSFORMER:
          ATTENTION_PROBS_DROPOUT_PROB: 0.1
          HIDDEN_ACT: gelu
          HIDDEN_DROPOUT_PROB: 0.1
          HIDDEN_SIZE: 768
          INITIALIZER_RANGE: 0.02
          INTERMEDIATE_SIZE: 3072
          MAX_POSITION_EMBEDDINGS: 22
          NUM_ATTENTION_HEADS: 12
          NUM_HIDDEN_LAYERS: 6
          NUM_HIDDEN_GROUPS: 1
          INNER_GROUP_NUM: 1
          TYPE_VOCAB_SIZE: 2
          USE_MEAN_POOLING: False
          SHARING_ACROSS_LAYERS: True
          SHARING_ACROSS_MODELS: True
          USE_DECOMPOSITION: True
          ORTHOGONAL_SIZE: 128
          ORTHOGONAL_MODE: static
          ORTHOGONAL_INIT: cayley
          ORTHOGONAL_K: 100
        DATA:
          CROP_SIZE: 112
          NUM_FRAMES: 32
          SAMPLING_RATE: 2
          TARGET_FPS: 30
          INPUT_CHANNEL_NUM: [3]
          SEQUENCE_LENGTH: 10
          AUDIO_FREQUENCY: 80
          AUDIO_TIME: 128
        """;

    [Fact]
    public void The_released_setting_maps_onto_our_defaults()
    {
        var c = ReferenceConfig.Parse(KineticsSounds, "ks.yaml");
        Assert.Empty(c.Warnings);
        var ours = new AvBertConfig();
        // The reference's visual head window: [NUM_FRAMES // 2, ceil(CROP_SIZE / 32) × 2] (it covers the 16×4×4 map).
        ours = ours with { Model = ours.Model with { Visual = ours.Model.Visual with { PoolWindow = [16, 4, 4] } } };
        Assert.Equal(ConfigLoader.ToYaml(ours with { Pretrain = c.Config.Pretrain, Downstream = c.Config.Downstream }), ConfigLoader.ToYaml(c.Config));
    }

    [Theory]
    [InlineData(true, true, CrossTransformerSharing.Partial)]
    [InlineData(true, false, CrossTransformerSharing.All)]
    [InlineData(false, true, CrossTransformerSharing.LowRank)]
    [InlineData(false, false, CrossTransformerSharing.None)]
    public void Sharing_flags_map_onto_our_sharing_modes(bool acrossModels, bool decomposition, CrossTransformerSharing expected)
    {
        var yaml = $"MODEL:\n  POOLING: true\nTRANSFORMER:\n  SHARING_ACROSS_MODELS: {acrossModels}\n  USE_DECOMPOSITION: {decomposition}\n  SHARING_ACROSS_LAYERS: false\n";
        var t = ReferenceConfig.Parse(yaml, "x.yaml").Config.Model.Transformer;
        Assert.Equal(expected, t.ShareAcrossTransformers);
        Assert.False(t.ShareAcrossLayers);
    }

    [Theory]
    [InlineData("static", "7", 0)]
    [InlineData("dtriv", "7", 7)]
    [InlineData("dtriv", "infty", int.MaxValue)]   // their K = "infty": re-based once, at the first step
    public void Dtriv_rebases_every_ORTHOGONAL_K_steps(string mode, string k, int expected)
    {
        var c = ReferenceConfig.Parse($"MODEL:\n  POOLING: true\nTRANSFORMER:\n  ORTHOGONAL_MODE: {mode}\n  ORTHOGONAL_K: {k}\n", "x.yaml");
        Assert.Equal(expected, c.Config.Model.Transformer.OrthogonalRebaseEvery);
        Assert.Equal(OrthogonalMap.Expm, c.Config.Model.Transformer.OrthogonalMap);
        Assert.Empty(c.Warnings);
    }

    [Fact]
    public void Unknown_keys_are_warnings_and_known_non_model_keys_are_silent()
    {
        var c = ReferenceConfig.Parse("MODEL:\n  POOLING: true\nSOLVER:\n  BASE_LR: 0.1\nRESNET:\n  DEPTH: 101\n  FANCY: 3\nMYSTERY: 1\n", "x.yaml");
        Assert.Equal(2, c.Warnings.Count);
        Assert.Contains(c.Warnings, w => w.Contains("'RESNET.FANCY'"));
        Assert.Contains(c.Warnings, w => w.Contains("'MYSTERY'"));
        Assert.Equal([3, 4, 23, 3], c.Config.Model.Visual.StageBlocks);
    }

    [Theory]
    [InlineData("RESNET:\n  DEPTH: 42\n", "RESNET.DEPTH: 42")]
    [InlineData("MODEL:\n  ARCH: visual\n", "MODEL.ARCH: visual")]
    [InlineData("MODEL:\n  FUSION: sideways\n", "MODEL.FUSION: sideways")]
    [InlineData("AUDIO_RESNET:\n  TRANS_FUNC: wavelet\n", "AUDIO_RESNET.TRANS_FUNC: wavelet")]
    [InlineData("TRANSFORMER:\n  HIDDEN_SIZE: many\n", "TRANSFORMER.HIDDEN_SIZE: many")]
    [InlineData("TRANSFORMER:\n  HIDDEN_SIZE: 100\n", "hidden_size: 100")]
    [InlineData("RESNET:\n  NUM_BLOCK_TEMP_KERNEL: [[3], [9], [6], [3]]\n", "NUM_BLOCK_TEMP_KERNEL")]
    // What the reference's code builds but cannot run, or cannot build (see docs/model.md, "avbert convert").
    [InlineData("MODEL:\n  POOLING: false\n", "MODEL.POOLING: false")]
    [InlineData("MODEL:\n  FUSION: mid\n", "MODEL.POOLING: false")]
    [InlineData("MODEL:\n  POOLING: true\nAUDIO_RESNET:\n  STRIDE_1X1: true\n", "AUDIO_RESNET.STRIDE_1X1: true")]
    [InlineData("MODEL:\n  POOLING: true\nAUDIO_RESNET:\n  STRIDES: [1, 2, 2, 2]\n", "AUDIO_RESNET.STRIDES: [1, 2, 2, 2]")]
    [InlineData("MODEL:\n  POOLING: true\nAUDIO_RESNET:\n  STRIDES: [2, 2, 2, 3]\n", "AUDIO_RESNET.STRIDES: [2, 2, 2, 3]")]
    [InlineData("MODEL:\n  POOLING: true\nRESNET:\n  SPATIAL_STRIDES: [[2], [2], [2], [2]]\n", "RESNET.SPATIAL_STRIDES")]
    [InlineData("MODEL:\n  POOLING: true\nTRANSFORMER:\n  NUM_HIDDEN_LAYERS: 4\n  NUM_HIDDEN_GROUPS: 2\n  INNER_GROUP_NUM: 3\n", "TRANSFORMER.INNER_GROUP_NUM: 3")]
    [InlineData("MODEL:\n  POOLING: true\n  FUSION: early\n", "TRANSFORMER.USE_DECOMPOSITION: true")]
    public void Configs_the_reference_would_reject_are_errors_naming_the_key(string yaml, string named)
    {
        var e = Assert.Throws<ConfigError>(() => ReferenceConfig.Parse(yaml, "x.yaml"));
        Assert.Contains(named, e.Message);
    }

    [Theory]
    [InlineData("audio", "RESNET:\n  SPATIAL_STRIDES: [[2], [2], [2], [2]]\n")]
    [InlineData("visual", "AUDIO_RESNET:\n  STRIDES: [1, 2, 2, 2]\n  STRIDE_1X1: true\n")]
    public void A_single_modality_config_is_not_refused_for_the_stream_it_lacks(string arch, string otherStream)
    {
        var c = ReferenceConfig.Parse($"MODEL:\n  POOLING: true\n  ARCH: {arch}\n  FUSION: late\n{otherStream}", "x.yaml");
        Assert.Equal(arch == "audio" ? Modalities.Audio : Modalities.Visual, c.Config.Model.Modalities);
        Assert.Throws<ConfigError>(() => ReferenceConfig.Parse($"MODEL:\n  POOLING: true\n{otherStream}", "x.yaml"));
    }

    static string Ref(string name) => Path.Combine(TestSetup.ReferenceDir, name);

    static string TinyConfigWith(string key, string value)
    {
        var lines = File.ReadAllLines(Ref("tiny-a.config.yaml"));
        var i = Array.FindIndex(lines, l => l.TrimStart().StartsWith(key + ":"));
        lines[i] = lines[i][..lines[i].IndexOf(':')] + ": " + value;
        var path = Path.Combine(TestSetup.TempDir("refcfg"), "tiny.yaml");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void A_checkpoint_converted_with_the_wrong_config_names_the_weight_and_both_shapes()
    {
        var e = Assert.Throws<UserError>(() => ReferenceCheckpoint.Convert(Ref("tiny-a.pyth"), TinyConfigWith("INTERMEDIATE_SIZE", "96")));
        Assert.Contains("avbert.transformer.encoder.albert_layer_groups.0.albert_layers.0.factor_ffn.s_linear.weight", e.Message);
        Assert.Contains("[128, 16]", e.Message);
        Assert.Contains("[96, 16]", e.Message);
    }

    [Fact]
    public void A_checkpoint_lacking_a_weight_the_config_needs_names_it()
    {
        var e = Assert.Throws<UserError>(() => ReferenceCheckpoint.Convert(Ref("tiny-a.pyth"), TinyConfigWith("USE_MEAN_POOLING", "true")));
        Assert.Contains("missing weight 'avbert.summary_encoding.bos_visual_norm.weight'", e.Message);
        Assert.Contains("[64]", e.Message);
    }

    [Fact]
    public void Without_cross_Transformer_sharing_the_shared_checkpoint_loads_from_its_aliases()
    {
        // The reference registers its shared Transformer under every user's name, so an unshared low-rank model finds
        // its weights there (as the reference's own non-strict loader would); the other factor sets are reported.
        var import = ReferenceCheckpoint.Convert(Ref("tiny-a.pyth"), TinyConfigWith("SHARING_ACROSS_MODELS", "false"));
        using var model = import.Model;
        Assert.Equal(["visual_transformer", "audio_transformer", "multimodal_transformer"], model.TransformerStacks.Keys);
        Assert.Contains(import.Warnings, w => w.Contains("ignored"));
    }

    [Fact]
    public void Our_names_map_to_distinct_reference_names_in_every_mode()
    {
        foreach (var fusion in Enum.GetValues<Fusion>())
            foreach (var crossLayer in new[] { false, true })
                foreach (var sharing in Enum.GetValues<CrossTransformerSharing>())
                {
                    var cfg = TinyModels.Model(fusion, crossLayer, sharing);
                    cfg = cfg with { Transformer = cfg.Transformer with { NumLayers = 4, NumLayerGroups = crossLayer ? 2 : 1, InnerLayersPerGroup = crossLayer ? 2 : 1, BosMeanPooling = true } };
                    using var model = new AvBertModel(cfg, TinyModels.Data);
                    var keys = model.state_dict().Keys.ToList();
                    var mapped = keys.Select(k => ReferenceKeys.ToReference(k, cfg)).ToList();
                    Assert.Equal(keys.Count, mapped.Distinct().Count());
                }
    }
}
