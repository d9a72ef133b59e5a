using AvBert.Config;
using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>Tiny configs (CPU, milliseconds) for every fusion and sharing mode, and matching random inputs.</summary>
static class TinyModels
{
    public const int B = 2, T = 2;

    public static DataConfig Data => new()
    {
        NumFrames = 4, SequenceLength = T, TrainCropSize = 16, TestCropSize = 16, TrainJitterScales = [16, 20],
        AudioFrequency = 16, AudioTime = 16,
    };

    public static ModelConfig Model(Fusion fusion = Fusion.Mid, bool crossLayer = true,
                                    CrossTransformerSharing sharing = CrossTransformerSharing.Partial) => new()
    {
        Visual = new VisualCnnConfig { StageBlocks = [1, 1, 1, 1], WidthPerGroup = 2 },
        Audio = new AudioCnnConfig { StageBlocks = [1, 1, 1, 1], WidthPerGroup = 2 },
        Transformer = new TransformerConfig
        {
            HiddenSize = 16, NumHeads = 2, IntermediateSize = 32, NumLayers = 2, Rank = 4,
            ShareAcrossLayers = crossLayer, ShareAcrossTransformers = sharing,
        },
        Fusion = fusion,
    };

    public static AvBertModel Build(Fusion fusion = Fusion.Mid, bool crossLayer = true,
                                    CrossTransformerSharing sharing = CrossTransformerSharing.Partial) =>
        new(Model(fusion, crossLayer, sharing), Data);

    /// <summary>(visual [B, T, 3, F, H, W], audio [B, T, 1, FREQ, TIME]) for <paramref name="data"/>.</summary>
    public static (Tensor Visual, Tensor Audio) Inputs(DataConfig? data = null, int batch = B, long seed = 0)
    {
        data ??= Data;
        var g = new TorchSharp.torch.Generator((ulong)seed);
        var visual = randn([batch, data.SequenceLength, 3, data.NumFrames, data.TrainCropSize, data.TrainCropSize], generator: g);
        var audio = randn([batch, data.SequenceLength, 1, data.AudioFrequency, data.AudioTime], generator: g);
        return (visual, audio);
    }

    public static IEnumerable<object[]> AllSharing()
    {
        foreach (var crossLayer in new[] { false, true })
            foreach (var sharing in Enum.GetValues<CrossTransformerSharing>())
                yield return [crossLayer, sharing];
    }

    public static IEnumerable<object[]> AllFusionAndSharing()
    {
        foreach (var fusion in Enum.GetValues<Fusion>())
            foreach (var sharing in Enum.GetValues<CrossTransformerSharing>())
                yield return [fusion, sharing];
    }
}
