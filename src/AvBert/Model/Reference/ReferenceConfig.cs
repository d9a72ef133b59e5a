using System.Globalization;
using AvBert.Config;
using AvBert.Runtime;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization.NamingConventions;

namespace AvBert.Model.Reference;

/// <summary>An authors' config mapped onto ours, with what could not be carried over.</summary>
public sealed record ReferenceConfigConversion(AvBertConfig Config, IReadOnlyList<string> Warnings);

/// <summary>
/// Reads the authors' yacs YAML (RESNET.*, AUDIO_RESNET.*, MODEL.*, TRANSFORMER.*, DATA.*, ...; the keys of their
/// code/config.py) and maps the parts that shape the model and its inputs onto <see cref="AvBertConfig"/>. Keys the
/// reference does not know give a warning; values the reference's model code would reject give a <see cref="ConfigError"/>.
/// </summary>
public static class ReferenceConfig
{
    /// <summary>Every key of the reference's defaults (code/config.py), by section; "" = top level.</summary>
    static readonly Dictionary<string, string[]> KnownKeys = new()
    {
        [""] = ["NUM_GPUS", "NUM_SHARDS", "SHARD_ID", "DATASET_ROOT", "DATASET_DIR", "OUTPUT_ROOT", "SAVE_DIR", "LOG_DIR",
                "RNG_SEED", "LOG_PERIOD", "DIST_INIT_METHOD", "DIST_BACKEND"],
        ["BN"] = ["WEIGHT_DECAY"],
        ["PRETRAIN"] = ["CHECKPOINT_FILE_PATH"],
        ["TRAIN"] = ["ENABLE", "DATASET", "DATASET_SPLIT", "NUM_SAMPLES", "BATCH_SIZE", "EVAL_PERIOD", "TEST_PERIOD",
                     "SAVE_EVERY_EPOCH", "CHECKPOINT_FILE_PATH", "PREEMPTIBLE"],
        ["VAL"] = ["ENABLE", "DATASET", "DATASET_SPLIT"],
        ["TEST"] = ["ENABLE", "DATASET", "DATASET_SPLIT", "BATCH_SIZE", "CHECKPOINT_FILE_PATH", "NUM_SAMPLES",
                    "NUM_ENSEMBLE_VIEWS", "NUM_SPATIAL_CROPS"],
        ["VIS"] = ["ARCH", "MODEL_NAME"],
        ["RESNET"] = ["TRANS_FUNC", "NUM_GROUPS", "WIDTH_PER_GROUP", "INPLACE_RELU", "STRIDE_1X1", "DEPTH",
                      "NUM_BLOCK_TEMP_KERNEL", "SPATIAL_STRIDES", "SPATIAL_DILATIONS"],
        ["AUD"] = ["ARCH", "MODEL_NAME"],
        ["AUDIO_RESNET"] = ["TRANS_FUNC", "NUM_GROUPS", "WIDTH_PER_GROUP", "INPLACE_RELU", "STRIDE_1X1", "DEPTH", "STRIDES", "DILATIONS"],
        ["MODEL"] = ["TASK", "DOWNSTREAM_FUSION", "FC_INIT_STD", "ZERO_INIT_FINAL_BN", "EPSILON", "MOMENTUM", "NUM_CLASSES",
                     "DROPOUT_RATE", "POOLING", "LOSS_FUNC", "MARGIN", "HEAD_ACT", "ARCH", "FUSION", "USE_TRANSFORMER"],
        ["TRANSFORMER"] = ["ATTENTION_PROBS_DROPOUT_PROB", "HIDDEN_ACT", "HIDDEN_DROPOUT_PROB", "HIDDEN_SIZE", "INITIALIZER_RANGE",
                           "INTERMEDIATE_SIZE", "MAX_POSITION_EMBEDDINGS", "NUM_ATTENTION_HEADS", "NUM_HIDDEN_LAYERS",
                           "NUM_HIDDEN_GROUPS", "NET_STRUCTURE_TYPE", "GAP_SIZE", "NUM_MEMORY_BLOCKS", "INNER_GROUP_NUM",
                           "DOWN_SCALE_FACTOR", "TYPE_VOCAB_SIZE", "OUTPUT_HIDDEN_STATES", "USE_MEAN_POOLING",
                           "SHARING_ACROSS_LAYERS", "SHARING_ACROSS_MODELS", "USE_DECOMPOSITION", "ORTHOGONAL_SIZE",
                           "ORTHOGONAL_MODE", "ORTHOGONAL_INIT", "ORTHOGONAL_K"],
        ["DATA"] = ["CROP_SIZE", "NUM_FRAMES", "SAMPLING_RATE", "TARGET_FPS", "INPUT_CHANNEL_NUM", "MEAN", "STD",
                    "TRAIN_CROP_SIZE", "TRAIN_JITTER_SCALES", "TEST_CROP_SIZE", "CLIP_DURATION", "TARGET_AUDIO_RATE",
                    "AUDIO_FREQUENCY", "AUDIO_TIME", "FREQUENCY_MASK_RATE", "TIME_MASK_RATE", "ENSEMBLE_METHOD",
                    "TRANSFORMATIONS", "SEQUENCE_LENGTH"],
        ["SOLVER"] = ["BASE_LR", "FINETUNE_LR", "PROTOCOL", "LR_POLICY", "MAX_EPOCH", "NUM_STEPS", "MOMENTUM", "DAMPENING",
                      "NESTEROV", "USE_AMSGRAD", "WEIGHT_DECAY", "FINETUNE_WEIGHT_DECAY", "WARMUP_START_LR",
                      "WARMUP_START_FINETUNE_LR", "WARMUP_STEPS", "WARMUP_EPOCHS", "WARMUP_PROPORTION", "OPTIMIZING_METHOD"],
        ["DATA_LOADER"] = ["NUM_WORKERS", "PIN_MEMORY"],
    };

    public static ReferenceConfigConversion Load(string path)
    {
        if (!File.Exists(path)) throw new UserError($"--reference-config {path}: file not found.");
        return Parse(File.ReadAllText(path), path);
    }

    public static ReferenceConfigConversion Parse(string yaml, string source)
    {
        var values = Flatten(ParseYaml(yaml, source), source);
        var warnings = new List<string>();
        foreach (var key in values.Keys.Where(k => !IsKnown(k)).OrderBy(k => k))
            warnings.Add($"{source}: unknown key '{key}' (not in the reference's config.py); ignored.");
        var r = new Reader(values, source);

        // Checks the reference's model code makes (asserts, registry lookups).
        // The authors' code registers the single-pathway ResNet only; our SlowFast is an extension of the paper's text.
        if (r.String("VIS.ARCH", "resnet") == "slowfast" || r.String("VIS.MODEL_NAME", "ResNet") == "SlowFast")
            throw new ConfigError($"{source}: 'VIS.ARCH: slowfast' is not supported: convert brings over the authors' single-pathway " +
                                  "checkpoint (their code builds VIS.ARCH resnet only). Our SlowFast visual CNN (model.visual.arch: slowfast) " +
                                  "has no reference checkpoint; train it with `avbert pretrain --set model.visual.arch=slowfast`.");
        r.Require("VIS.ARCH", "resnet", "resnet");
        r.Require("VIS.MODEL_NAME", "ResNet", "ResNet (the single-pathway 3D ResNet)");
        r.Require("AUD.ARCH", "resnet", "resnet");
        r.Require("AUD.MODEL_NAME", "AudioResNet", "AudioResNet");
        var modalities = r.String("MODEL.ARCH", "visual_audio") switch
        {
            "visual_audio" => Modalities.AudioVisual,
            "visual" => Modalities.Visual,
            "audio" => Modalities.Audio,
            var arch => throw new ConfigError($"{source}: 'MODEL.ARCH: {arch}' is not supported by the reference; expected visual_audio, visual or audio."),
        };
        var inputChannels = r.IntList("DATA.INPUT_CHANNEL_NUM", [3]);
        if (inputChannels.Length != 1 || inputChannels[0] != 3)
            throw new ConfigError($"{source}: 'DATA.INPUT_CHANNEL_NUM: [{string.Join(", ", inputChannels)}]' is not supported; expected [3] (RGB).");

        double eps = r.Double("MODEL.EPSILON", 1e-5), momentum = r.Double("MODEL.MOMENTUM", 0.1);
        bool zeroInit = r.Bool("MODEL.ZERO_INIT_FINAL_BN", true);

        var visualBlocks = r.Depth("RESNET.DEPTH");
        var visual = new VisualCnnConfig
        {
            StageBlocks = visualBlocks,
            Block = r.Block("RESNET.TRANS_FUNC"),
            WidthPerGroup = r.Int("RESNET.WIDTH_PER_GROUP", 64),
            NumGroups = r.Int("RESNET.NUM_GROUPS", 1),
            TemporalKernels = [1, 1, 3, 3],                          // VIS.ARCH resnet
            TemporalKernelBlocks = r.PerStage("RESNET.NUM_BLOCK_TEMP_KERNEL", [3, 4, 6, 3]),
            SpatialStrides = r.PerStage("RESNET.SPATIAL_STRIDES", [1, 2, 2, 2]),
            SpatialDilations = r.PerStage("RESNET.SPATIAL_DILATIONS", [1, 1, 1, 1]),
            StrideOnFirstConv = r.Bool("RESNET.STRIDE_1X1", false),
            StemTemporalKernel = 5,
            StemSpatialKernel = 7,
            BnEps = eps, BnMomentum = momentum, ZeroInitFinalBn = zeroInit,
        };
        for (int s = 0; s < 4; s++)
            if (visual.TemporalKernelBlocks[s] > visualBlocks[s])
                throw new ConfigError($"{source}: 'RESNET.NUM_BLOCK_TEMP_KERNEL' stage {s + 1} is {visual.TemporalKernelBlocks[s]}, " +
                                      $"more than that stage's {visualBlocks[s]} blocks (RESNET.DEPTH); the reference asserts this.");
        // All blocks use the temporal kernel: store the short form.
        if (visual.TemporalKernelBlocks.SequenceEqual(visualBlocks)) visual = visual with { TemporalKernelBlocks = [] };

        // The reference's visual head (head_helper.ResNetPoolingHead): AvgPool3d over [NUM_FRAMES // 2, ceil(CROP_SIZE / 32) × 2]
        // at stride 1, then the mean of what remains (eval mode). PyTorch refuses a window larger than the map.
        int numFrames = r.Int("DATA.NUM_FRAMES", 32), cropSize = r.Int("DATA.CROP_SIZE", 112);
        int spatialWindow = (cropSize + 31) / 32;
        visual = visual with { PoolWindow = [numFrames / 2, spatialWindow, spatialWindow] };
        int mapFrames = Strided(numFrames, 2), mapSize = visual.SpatialStrides.Aggregate(Strided(Strided(cropSize, 2), 2), Strided);
        if (modalities != Modalities.Audio && (numFrames / 2 < 1 || numFrames / 2 > mapFrames || spatialWindow > mapSize))
            throw new ConfigError($"{source}: the reference's visual pooling window [{numFrames / 2}, {spatialWindow}, {spatialWindow}] (DATA.NUM_FRAMES // 2, " +
                                  $"ceil(DATA.CROP_SIZE / 32)) does not fit the {mapFrames}×{mapSize}×{mapSize} feature map of " +
                                  $"RESNET.SPATIAL_STRIDES [{string.Join(", ", visual.SpatialStrides)}]; the reference cannot run it. Fix: DATA.NUM_FRAMES >= 2 or smaller strides.");

        var audio = new AudioCnnConfig
        {
            StageBlocks = r.Depth("AUDIO_RESNET.DEPTH"),
            Block = r.Block("AUDIO_RESNET.TRANS_FUNC"),
            WidthPerGroup = r.Int("AUDIO_RESNET.WIDTH_PER_GROUP", 32),
            NumGroups = r.Int("AUDIO_RESNET.NUM_GROUPS", 1),
            Strides = r.IntList("AUDIO_RESNET.STRIDES", [2, 2, 2, 2], length: 4),
            Dilations = r.IntList("AUDIO_RESNET.DILATIONS", [1, 1, 1, 1], length: 4),
            StrideOnFirstConv = r.Bool("AUDIO_RESNET.STRIDE_1X1", false),
            StemKernel = 9,
            SeparableStages = [true, true, false, false],
            BnEps = eps, BnMomentum = momentum, ZeroInitFinalBn = zeroInit,
        };
        // (Each stream's checks apply when the model has it.) audio_resnet_helper's bottleneck strides only the time axis of its 1×1 conv while the shortcut strides both:
        // the residual sum fails whenever a stage strides.
        if (modalities != Modalities.Visual && audio.StrideOnFirstConv && audio.Block == ResNetBlock.Bottleneck && audio.Strides.Any(x => x > 1))
            throw new ConfigError($"{source}: 'AUDIO_RESNET.STRIDE_1X1: true' with strides [{string.Join(", ", audio.Strides)}] cannot run in the reference " +
                                  "(its 1×1 conv strides only the time axis, the shortcut both; the residual sum fails). Fix: AUDIO_RESNET.STRIDE_1X1: false.");
        // The reference's audio head (audio_head_helper.ResNetPoolingHead) is AvgPool2d over [ceil(FREQ / 16), ceil(TIME / 16)]
        // at stride 1 with no mean after it: the map must be exactly that size, or the projection gets the wrong width.
        int freq = r.Int("DATA.AUDIO_FREQUENCY", 80), time = r.Int("DATA.AUDIO_TIME", 128);
        int mapFreq = audio.Strides.Aggregate(freq, Strided), mapTime = audio.Strides.Aggregate(time, Strided);
        if (modalities != Modalities.Visual && (mapFreq != (freq + 15) / 16 || mapTime != (time + 15) / 16))
            throw new ConfigError($"{source}: 'AUDIO_RESNET.STRIDES: [{string.Join(", ", audio.Strides)}]' gives a {mapFreq}×{mapTime} audio feature map, but the " +
                                  $"reference's audio head pools a {(freq + 15) / 16}×{(time + 15) / 16} window (ceil(DATA.AUDIO_FREQUENCY / 16) × ceil(DATA.AUDIO_TIME / 16)) " +
                                  "with no mean after it, so it cannot run this model. Fix: strides whose product is 16, e.g. [2, 2, 2, 2].");

        var fusion = r.String("MODEL.FUSION", "mid") switch
        {
            "early" => Fusion.Early,
            "mid" => Fusion.Mid,
            "late" => Fusion.Late,
            var f => throw new ConfigError($"{source}: 'MODEL.FUSION: {f}' is not supported by the reference; expected early, mid or late."),
        };
        if (modalities != Modalities.AudioVisual && fusion != Fusion.Late)   // AVBert asserts 'visual_audio' in MODEL.ARCH for early and mid
            throw new ConfigError($"{source}: 'MODEL.FUSION: {fusion.ToString().ToLowerInvariant()}' with 'MODEL.ARCH: {r.String("MODEL.ARCH", "")}' is not built by the reference " +
                                  "(early and mid fusion need visual_audio). Fix: MODEL.FUSION: late.");
        bool acrossModels = r.Bool("TRANSFORMER.SHARING_ACROSS_MODELS", true);
        bool decomposition = r.Bool("TRANSFORMER.USE_DECOMPOSITION", true);
        var sharing = (acrossModels, decomposition) switch
        {
            (true, true) => CrossTransformerSharing.Partial,
            (true, false) => CrossTransformerSharing.All,
            (false, true) => CrossTransformerSharing.LowRank,
            (false, false) => CrossTransformerSharing.None,
        };
        if (fusion == Fusion.Early && decomposition)
            throw new ConfigError($"{source}: 'MODEL.FUSION: early' with 'TRANSFORMER.USE_DECOMPOSITION: true' cannot run in the reference " +
                                  "(it builds one factor set, ms0, but its multimodal Transformer looks up set 2). Fix: TRANSFORMER.USE_DECOMPOSITION: false.");
        var mode = r.String("TRANSFORMER.ORTHOGONAL_MODE", "static");
        var map = mode switch
        {
            "static" => OrthogonalMap.Expm,
            "dtriv" => OrthogonalMap.Expm,
            "cayley" => OrthogonalMap.Cayley,
            _ => throw new ConfigError($"{source}: 'TRANSFORMER.ORTHOGONAL_MODE: {mode}' is not supported by the reference; expected static, dtriv or cayley."),
        };
        // dtriv: re-base every ORTHOGONAL_K steps ("infty": once, at the first step).
        int rebaseEvery = 0;
        if (mode == "dtriv")
        {
            var k = r.String("TRANSFORMER.ORTHOGONAL_K", "100");
            rebaseEvery = k == "infty" ? int.MaxValue
                : int.TryParse(k, NumberStyles.Integer, CultureInfo.InvariantCulture, out var kk) && kk >= 1 ? kk
                : throw new ConfigError($"{source}: 'TRANSFORMER.ORTHOGONAL_K: {k}' is not valid; expected a step count >= 1 or infty.");
        }
        var orthoInit = r.String("TRANSFORMER.ORTHOGONAL_INIT", "cayley") switch
        {
            "cayley" => OrthogonalInit.Cayley,
            "henaff" => OrthogonalInit.Henaff,
            var i => throw new ConfigError($"{source}: 'TRANSFORMER.ORTHOGONAL_INIT: {i}' is not supported by the reference; expected cayley or henaff."),
        };
        var actName = r.String("TRANSFORMER.HIDDEN_ACT", "gelu");
        var activations = Enum.GetValues<HiddenActivation>().ToDictionary(a => UnderscoredNamingConvention.Instance.Apply(a.ToString()));
        if (!activations.TryGetValue(actName, out var act))
            throw new ConfigError($"{source}: 'TRANSFORMER.HIDDEN_ACT: {actName}' is not an activation of the reference; expected one of {string.Join(", ", activations.Keys)}.");
        if (r.Bool("TRANSFORMER.OUTPUT_HIDDEN_STATES", false))
            warnings.Add($"{source}: TRANSFORMER.OUTPUT_HIDDEN_STATES only adds outputs; ignored.");

        var transformer = new TransformerConfig
        {
            HiddenSize = r.Int("TRANSFORMER.HIDDEN_SIZE", 768),
            NumHeads = r.Int("TRANSFORMER.NUM_ATTENTION_HEADS", 12),
            IntermediateSize = r.Int("TRANSFORMER.INTERMEDIATE_SIZE", 3072),
            NumLayers = r.Int("TRANSFORMER.NUM_HIDDEN_LAYERS", 6),
            HiddenAct = act,
            HiddenDropout = r.Double("TRANSFORMER.HIDDEN_DROPOUT_PROB", 0.1),
            AttentionDropout = r.Double("TRANSFORMER.ATTENTION_PROBS_DROPOUT_PROB", 0.1),
            LayerNormEps = 1e-12,                                    // fixed in the reference's Albert/BertConfig
            MaxPositions = r.Int("TRANSFORMER.MAX_POSITION_EMBEDDINGS", 22),
            TypeVocabSize = r.Int("TRANSFORMER.TYPE_VOCAB_SIZE", 2),
            InitializerRange = r.Double("TRANSFORMER.INITIALIZER_RANGE", 0.02),
            ShareAcrossLayers = r.Bool("TRANSFORMER.SHARING_ACROSS_LAYERS", true),
            NumLayerGroups = r.Int("TRANSFORMER.NUM_HIDDEN_GROUPS", 1),
            InnerLayersPerGroup = r.Int("TRANSFORMER.INNER_GROUP_NUM", 1),
            ShareAcrossTransformers = sharing,
            Rank = r.Int("TRANSFORMER.ORTHOGONAL_SIZE", 128),
            OrthogonalMap = map,
            OrthogonalInit = orthoInit,
            OrthogonalRebaseEvery = rebaseEvery,
            BosMeanPooling = r.Bool("TRANSFORMER.USE_MEAN_POOLING", false),
        };
        if (!transformer.ShareAcrossLayers)      // BERT layers: the ALBERT group settings do not apply
            transformer = transformer with { NumLayerGroups = 1, InnerLayersPerGroup = 1 };
        else if (transformer.NumLayerGroups >= 1 && transformer.InnerLayersPerGroup > transformer.NumLayers / transformer.NumLayerGroups)
            // AlbertLayerGroup indexes its slice of the head mask (NUM_HIDDEN_LAYERS // NUM_HIDDEN_GROUPS entries) per inner layer.
            throw new ConfigError($"{source}: 'TRANSFORMER.INNER_GROUP_NUM: {transformer.InnerLayersPerGroup}' is more than the " +
                                  $"{transformer.NumLayers / transformer.NumLayerGroups} layers per group (NUM_HIDDEN_LAYERS // NUM_HIDDEN_GROUPS); " +
                                  "the reference's ALBERT groups cannot run it (head-mask index out of range). Fix: INNER_GROUP_NUM <= layers per group.");

        var defaults = new DataConfig();
        var data = new DataConfig
        {
            NumFrames = numFrames,
            SamplingRate = r.Int("DATA.SAMPLING_RATE", 2),
            TargetFps = r.Int("DATA.TARGET_FPS", 30),
            SequenceLength = r.Int("DATA.SEQUENCE_LENGTH", 10),
            TrainCropSize = r.Int("DATA.TRAIN_CROP_SIZE", 112),
            TestCropSize = r.Int("DATA.TEST_CROP_SIZE", 128),
            TrainJitterScales = r.IntList("DATA.TRAIN_JITTER_SCALES", [128, 160], length: 2),
            TestSpatialCrops = r.Int("TEST.NUM_SPATIAL_CROPS", 3),
            Mean = r.DoubleList("DATA.MEAN", defaults.Mean, 3),
            Std = r.DoubleList("DATA.STD", defaults.Std, 3),
            AudioSampleRate = r.Int("DATA.TARGET_AUDIO_RATE", 44100),
            AudioFrequency = freq,
            AudioTime = time,
            FrequencyMaskRate = r.Double("DATA.FREQUENCY_MASK_RATE", 0.05),
            TimeMaskRate = r.Double("DATA.TIME_MASK_RATE", 0.05),
        };
        var config = new AvBertConfig
        {
            Model = new ModelConfig { Visual = visual, Audio = audio, Transformer = transformer, Fusion = fusion, Modalities = modalities },
            Data = data,
        };
        ConfigValidator.Validate(config, $"{source} (as converted)");
        // Without MODEL.POOLING the CNNs get classification heads, and AVBert's projection reads the pooling head's
        // output_size: the reference cannot build the model (config.py's default is false).
        if (!r.Bool("MODEL.POOLING", false))
            throw new ConfigError($"{source}: 'MODEL.POOLING: false' (or missing: the reference's default) cannot be built by the reference's AVBert " +
                                  "(its CNNs then end in classification heads without output_size). Fix: set MODEL.POOLING: true, as every released config does.");
        return new ReferenceConfigConversion(config, warnings);
    }

    /// <summary>Length after a 3-wide conv (padding 1, or dilation d with padding d) or a 1×1 conv at <paramref name="stride"/>.</summary>
    static int Strided(int length, int stride) => (length - 1) / stride + 1;

    static bool IsKnown(string dotted)
    {
        int dot = dotted.IndexOf('.');
        var (section, key) = dot < 0 ? ("", dotted) : (dotted[..dot], dotted[(dot + 1)..]);
        return KnownKeys.TryGetValue(section, out var keys) && keys.Contains(key);
    }

    static YamlMappingNode ParseYaml(string yaml, string source) => YamlInput.ParseMapping(yaml, source, "sections (RESNET:, TRANSFORMER:, ...)");

    static Dictionary<string, YamlNode> Flatten(YamlMappingNode root, string source)
    {
        var result = new Dictionary<string, YamlNode>();
        foreach (var (k, v) in root.Children)
        {
            var section = ((YamlScalarNode)k).Value!;
            if (v is YamlMappingNode m)
                foreach (var (kk, vv) in m.Children) result[$"{section}.{((YamlScalarNode)kk).Value}"] = vv;
            else result[section] = v;
        }
        return result;
    }

    /// <summary>Typed access to the flattened keys, with errors that name the key and the value.</summary>
    sealed class Reader(Dictionary<string, YamlNode> values, string source)
    {
        string? Scalar(string key) => values.TryGetValue(key, out var n) ? (n as YamlScalarNode)?.Value
            ?? throw Bad(key, YamlInput.Short(n), "a single value") : null;

        ConfigError Bad(string key, string value, string expected) => new($"{source}: '{key}: {value}' is not valid; expected {expected}.");

        public int Int(string key, int fallback)
        {
            var s = Scalar(key);
            if (s is null) return fallback;
            return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw Bad(key, s, "an integer");
        }

        public double Double(string key, double fallback)
        {
            var s = Scalar(key);
            if (s is null) return fallback;
            return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw Bad(key, s, "a number");
        }

        public bool Bool(string key, bool fallback)
        {
            var s = Scalar(key);
            if (s is null) return fallback;
            return s.ToLowerInvariant() switch
            {
                "true" or "yes" or "on" => true,
                "false" or "no" or "off" => false,
                _ => throw Bad(key, s, "true or false"),
            };
        }

        public string String(string key, string fallback) => Scalar(key) ?? fallback;

        public void Require(string key, string expected, string description)
        {
            var s = String(key, expected);
            if (s != expected) throw new ConfigError($"{source}: '{key}: {s}' is not supported; expected {description}.");
        }

        public int[] IntList(string key, int[] fallback, int? length = null)
        {
            if (!values.TryGetValue(key, out var n)) return fallback;
            if (n is not YamlSequenceNode seq) throw Bad(key, YamlInput.Short(n), "a list of integers");
            var result = seq.Children.Select(c => c is YamlScalarNode sc && int.TryParse(sc.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
                ? v : throw Bad(key, YamlInput.Short(n), "a list of integers")).ToArray();
            if (length is int l && result.Length != l) throw Bad(key, YamlInput.Short(n), $"a list of {l} integers");
            return result;
        }

        public double[] DoubleList(string key, double[] fallback, int length)
        {
            if (!values.TryGetValue(key, out var n)) return fallback;
            if (n is not YamlSequenceNode seq || seq.Children.Count != length) throw Bad(key, YamlInput.Short(n), $"a list of {length} numbers");
            return seq.Children.Select(c => c is YamlScalarNode sc && double.TryParse(sc.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
                ? v : throw Bad(key, YamlInput.Short(n), $"a list of {length} numbers")).ToArray();
        }

        /// <summary>A per-stage list, written [[a], [b], [c], [d]] (one entry per pathway) or [a, b, c, d].</summary>
        public int[] PerStage(string key, int[] fallback)
        {
            if (!values.TryGetValue(key, out var n)) return fallback;
            if (n is YamlSequenceNode seq && seq.Children.Count == 4)
            {
                var result = new int[4];
                for (int i = 0; i < 4; i++)
                {
                    var item = seq.Children[i] is YamlSequenceNode inner && inner.Children.Count == 1 ? inner.Children[0] : seq.Children[i];
                    if (item is not YamlScalarNode sc || !int.TryParse(sc.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out result[i]))
                        throw Bad(key, YamlInput.Short(n), "4 stages of one pathway, like [[1], [2], [2], [2]]");
                }
                return result;
            }
            throw Bad(key, YamlInput.Short(n), "4 stages of one pathway, like [[1], [2], [2], [2]]");
        }

        public int[] Depth(string key)
        {
            int depth = Int(key, 50);
            return ResNetWidths.StageBlocksForDepth(depth) ?? throw new ConfigError($"{source}: '{key}: {depth}' is not a depth of the reference; expected 18, 34, 50 or 101.");
        }

        public ResNetBlock Block(string key) => String(key, "bottleneck_transform") switch
        {
            "bottleneck_transform" => ResNetBlock.Bottleneck,
            "basic_transform" => ResNetBlock.Basic,
            var s => throw new ConfigError($"{source}: '{key}: {s}' is not supported by the reference; expected bottleneck_transform or basic_transform."),
        };
    }
}
