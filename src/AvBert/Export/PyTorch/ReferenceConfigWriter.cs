using System.Globalization;
using System.Text;
using AvBert.Config;
using AvBert.Model;
using AvBert.Model.Reference;
using YamlDotNet.Serialization.NamingConventions;

namespace AvBert.Export.PyTorch;

/// <summary>
/// Our config → the authors' yacs YAML (the reverse of <see cref="ReferenceConfig"/>): the RESNET, AUDIO_RESNET, MODEL,
/// TRANSFORMER, DATA and TEST keys that build their AVBert and describe its inputs. A model their code cannot build the
/// same way is refused with a <see cref="ConfigError"/> naming our field: the YAML is read back with
/// <see cref="ReferenceConfig.Parse"/> (which knows what their code accepts) and every model field must come back as it
/// was (docs/export.md).
/// </summary>
public static class ReferenceConfigWriter
{
    public static string Write(AvBertConfig config, string source)
    {
        var m = config.Model;
        var d = config.Data;
        if (m.Modalities != Modalities.Audio && m.Visual.Arch == VisualCnnArch.Slowfast)
            throw Refused(source, "model.visual.arch: slowfast", "their code builds the single-pathway ResNet only (VIS.ARCH resnet)");
        int visualDepth = Depth(m.Visual.StageBlocks, m.Visual.Block, "model.visual.stage_blocks", source, m.Modalities != Modalities.Audio);
        int audioDepth = Depth(m.Audio.StageBlocks, m.Audio.Block, "model.audio.stage_blocks", source, m.Modalities != Modalities.Visual);
        int cropSize;
        try { cropSize = CropSizeForPooling(m.Visual, d, source); }
        catch (ConfigError) when (m.Modalities == Modalities.Audio) { cropSize = d.TrainCropSize; }   // no visual head to match
        var t = m.Transformer;

        var y = new Yaml();
        y.Section("VIS").Key("ARCH", "resnet").Key("MODEL_NAME", "ResNet");
        var v = m.Visual;
        y.Section("RESNET").Key("TRANS_FUNC", TransFunc(v.Block)).Key("NUM_GROUPS", v.NumGroups).Key("WIDTH_PER_GROUP", v.WidthPerGroup)
         .Key("INPLACE_RELU", true).Key("STRIDE_1X1", v.StrideOnFirstConv).Key("DEPTH", visualDepth)
         .PerStage("NUM_BLOCK_TEMP_KERNEL", v.TemporalKernelBlocks.Length == 0 ? v.StageBlocks : v.TemporalKernelBlocks)
         .PerStage("SPATIAL_STRIDES", v.SpatialStrides).PerStage("SPATIAL_DILATIONS", v.SpatialDilations);
        y.Section("AUD").Key("ARCH", "resnet").Key("MODEL_NAME", "AudioResNet");
        var a = m.Audio;
        y.Section("AUDIO_RESNET").Key("TRANS_FUNC", TransFunc(a.Block)).Key("NUM_GROUPS", a.NumGroups).Key("WIDTH_PER_GROUP", a.WidthPerGroup)
         .Key("INPLACE_RELU", true).Key("STRIDE_1X1", a.StrideOnFirstConv).Key("DEPTH", audioDepth)
         .List("STRIDES", a.Strides).List("DILATIONS", a.Dilations);
        // BN settings are one pair in their config: the stream the model has decides (both must agree, checked below).
        var bn = m.Modalities == Modalities.Audio ? (a.BnEps, a.BnMomentum, a.ZeroInitFinalBn) : (v.BnEps, v.BnMomentum, v.ZeroInitFinalBn);
        y.Section("MODEL").Key("ZERO_INIT_FINAL_BN", bn.Item3).Key("EPSILON", bn.Item1).Key("MOMENTUM", bn.Item2).Key("POOLING", true)
         .Key("ARCH", m.Modalities switch { Modalities.Visual => "visual", Modalities.Audio => "audio", _ => "visual_audio" })
         .Key("FUSION", m.Fusion.ToString().ToLowerInvariant());
        bool acrossModels = t.ShareAcrossTransformers is CrossTransformerSharing.All or CrossTransformerSharing.Partial;
        bool decomposition = t.ShareAcrossTransformers is CrossTransformerSharing.Partial or CrossTransformerSharing.LowRank;
        y.Section("TRANSFORMER").Key("ATTENTION_PROBS_DROPOUT_PROB", t.AttentionDropout)
         .Key("HIDDEN_ACT", UnderscoredNamingConvention.Instance.Apply(t.HiddenAct.ToString()))
         .Key("HIDDEN_DROPOUT_PROB", t.HiddenDropout).Key("HIDDEN_SIZE", t.HiddenSize).Key("INITIALIZER_RANGE", t.InitializerRange)
         .Key("INTERMEDIATE_SIZE", t.IntermediateSize).Key("MAX_POSITION_EMBEDDINGS", t.MaxPositions)
         .Key("NUM_ATTENTION_HEADS", t.NumHeads).Key("NUM_HIDDEN_LAYERS", t.NumLayers)
         .Key("NUM_HIDDEN_GROUPS", t.NumLayerGroups).Key("INNER_GROUP_NUM", t.InnerLayersPerGroup)
         .Key("TYPE_VOCAB_SIZE", t.TypeVocabSize).Key("USE_MEAN_POOLING", t.BosMeanPooling)
         .Key("SHARING_ACROSS_LAYERS", t.ShareAcrossLayers).Key("SHARING_ACROSS_MODELS", acrossModels).Key("USE_DECOMPOSITION", decomposition)
         .Key("ORTHOGONAL_SIZE", t.Rank)
         .Key("ORTHOGONAL_MODE", t.OrthogonalRebaseEvery > 0 ? "dtriv" : t.OrthogonalMap == OrthogonalMap.Cayley ? "cayley" : "static")
         .Key("ORTHOGONAL_INIT", t.OrthogonalInit.ToString().ToLowerInvariant());
        if (t.OrthogonalRebaseEvery > 0)
            y.Key("ORTHOGONAL_K", t.OrthogonalRebaseEvery == int.MaxValue ? "infty" : t.OrthogonalRebaseEvery.ToString(CultureInfo.InvariantCulture));
        y.Section("DATA").Key("CROP_SIZE", cropSize).Key("NUM_FRAMES", d.NumFrames).Key("SAMPLING_RATE", d.SamplingRate)
         .Key("TARGET_FPS", d.TargetFps).List("INPUT_CHANNEL_NUM", [3]).List("MEAN", d.Mean).List("STD", d.Std)
         .Key("TRAIN_CROP_SIZE", d.TrainCropSize).List("TRAIN_JITTER_SCALES", d.TrainJitterScales).Key("TEST_CROP_SIZE", d.TestCropSize)
         .Key("TARGET_AUDIO_RATE", d.AudioSampleRate).Key("AUDIO_FREQUENCY", d.AudioFrequency).Key("AUDIO_TIME", d.AudioTime)
         .Key("FREQUENCY_MASK_RATE", d.FrequencyMaskRate).Key("TIME_MASK_RATE", d.TimeMaskRate).Key("SEQUENCE_LENGTH", d.SequenceLength);
        y.Section("TEST").Key("NUM_SPATIAL_CROPS", d.TestSpatialCrops);
        var yaml = y.ToString();

        // Read it back as `convert` would: what their code refuses stops here, and every model field must survive.
        ReferenceConfigConversion back;
        try { back = ReferenceConfig.Parse(yaml, "config"); }
        catch (ConfigError e) { throw new ConfigError($"{source}: the authors' code cannot build this model ({e.Message.Replace("config: ", "")})"); }
        var ours = Fields(m with { Visual = m.Visual with { PoolWindow = back.Config.Model.Visual.PoolWindow } });
        var theirs = Fields(back.Config.Model);
        foreach (var (key, value) in ours)
            if (theirs.TryGetValue(key, out var other) && other != value)
                throw Refused(source, $"{key}: {value}", $"their config can only say {other} here (docs/export.md lists what it fixes)");
        return yaml;
    }

    /// <summary>The model section's fields as dotted keys (the streams the model lacks left out).</summary>
    static Dictionary<string, string> Fields(ModelConfig m) =>
        ConfigLoader.Flatten(new AvBertConfig { Model = m }).Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal))
            .Where(kv => !(m.Modalities == Modalities.Audio && kv.Key.StartsWith("model.visual.", StringComparison.Ordinal)))
            .Where(kv => !(m.Modalities == Modalities.Visual && kv.Key.StartsWith("model.audio.", StringComparison.Ordinal)))
            .Where(kv => !kv.Key.StartsWith("model.visual.slowfast.", StringComparison.Ordinal))      // unused by the single pathway
            .ToDictionary(kv => kv.Key, kv => kv.Value);

    static ConfigError Refused(string source, string what, string why) =>
        new($"{source}: '{what}' cannot be exported to the authors' PyTorch layout: {why}. " +
            "Fix: export --format onnx (any model), or train a model their code can build.");

    static int Depth(int[] blocks, ResNetBlock block, string field, string source, bool used)
    {
        foreach (var depth in new[] { 18, 34, 50, 101 })
            if (ResNetWidths.StageBlocksForDepth(depth)!.SequenceEqual(blocks) && (depth != 34 || block == ResNetBlock.Basic) && (depth != 50 || block == ResNetBlock.Bottleneck))
                return depth;
        if (blocks.SequenceEqual([3, 4, 6, 3])) return block == ResNetBlock.Basic ? 34 : 50;
        if (!used) return 50;                  // the stream a single-modality model lacks: any depth builds nothing
        throw Refused(source, $"{field}: [{string.Join(", ", blocks)}]", "their ResNets have depth 18, 34, 50 or 101 ([2, 2, 2, 2], [3, 4, 6, 3] or [3, 4, 23, 3] blocks)");
    }

    /// <summary>
    /// Their visual head pools a [NUM_FRAMES // 2, ⌈CROP_SIZE / 32⌉²] window at stride 1, then averages what remains: a
    /// DATA.CROP_SIZE that gives our pooling. For our global mean (pool_window []) the window must be the whole map at
    /// the train and the test crop.
    /// </summary>
    static int CropSizeForPooling(VisualCnnConfig v, DataConfig d, string source)
    {
        int Map(int crop) => v.SpatialStrides.Aggregate((((crop - 1) / 2 + 1) - 1) / 2 + 1, (n, s) => (n - 1) / s + 1);
        int mapFrames = (d.NumFrames - 1) / 2 + 1;
        int[] window;
        if (v.PoolWindow.Length == 0)
        {
            int train = Map(d.TrainCropSize), test = Map(d.TestCropSize);
            if (d.NumFrames % 2 != 0 || train != test)
                throw Refused(source, "model.visual.pool_window: []",
                    $"their head pools a [data.num_frames // 2, ⌈crop / 32⌉²] window, not the global mean of the {mapFrames}×{train}×{train} " +
                    $"(train crop) and {mapFrames}×{test}×{test} (test crop) maps: it needs an even data.num_frames and one map size for both crops");
            window = [d.NumFrames / 2, test, test];
        }
        else window = v.PoolWindow;
        if (window.Length != 3 || window[0] != d.NumFrames / 2 || window[1] != window[2])
            throw Refused(source, $"model.visual.pool_window: [{string.Join(", ", window)}]",
                $"their head's window is [data.num_frames // 2 = {d.NumFrames / 2}, ⌈DATA.CROP_SIZE / 32⌉, the same]");
        foreach (var crop in new[] { d.TrainCropSize, d.TestCropSize, 32 * window[1] })
            if ((crop + 31) / 32 == window[1] && Map(crop) >= window[1]) return crop;
        throw Refused(source, $"model.visual.pool_window: [{string.Join(", ", window)}]", "no DATA.CROP_SIZE gives that window over a map it fits");
    }

    static string TransFunc(ResNetBlock b) => b == ResNetBlock.Basic ? "basic_transform" : "bottleneck_transform";

    /// <summary>Two-level YAML with flow lists, in the spelling PyYAML reads back as the same types (floats keep a '.').</summary>
    sealed class Yaml
    {
        readonly StringBuilder sb = new();

        public Yaml Section(string name) { sb.Append(name).Append(":\n"); return this; }
        Yaml Line(string key, string value) { sb.Append("  ").Append(key).Append(": ").Append(value).Append('\n'); return this; }
        public Yaml Key(string key, string value) => Line(key, value);
        public Yaml Key(string key, int value) => Line(key, value.ToString(CultureInfo.InvariantCulture));
        public Yaml Key(string key, bool value) => Line(key, value ? "true" : "false");
        public Yaml Key(string key, double value) => Line(key, Number(value));
        public Yaml List(string key, IEnumerable<int> values) => Line(key, "[" + string.Join(", ", values.Select(x => x.ToString(CultureInfo.InvariantCulture))) + "]");
        public Yaml List(string key, IEnumerable<double> values) => Line(key, "[" + string.Join(", ", values.Select(Number)) + "]");
        public Yaml PerStage(string key, IEnumerable<int> values) => Line(key, "[" + string.Join(", ", values.Select(x => $"[{x.ToString(CultureInfo.InvariantCulture)}]")) + "]");

        static string Number(double x)
        {
            var s = x.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e");
            if (s.Contains('.')) return s;
            int e = s.IndexOf('e');
            return e < 0 ? s + ".0" : s[..e] + ".0" + s[e..];
        }

        public override string ToString() => sb.ToString();
    }
}
