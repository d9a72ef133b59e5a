using AvBert.Config;
using AvBert.Downstream;
using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream;

/// <summary>Millisecond-sized models and inputs for the downstream unit tests.</summary>
static class TinyTransfer
{
    public static DataConfig Data => new()
    {
        NumFrames = 4, SequenceLength = 3, TrainCropSize = 16, TestCropSize = 16, TrainJitterScales = [16, 20],
        AudioFrequency = 16, AudioTime = 16,
    };

    public static ModelConfig Model(Fusion fusion = Fusion.Mid) => new()
    {
        Visual = new VisualCnnConfig { StageBlocks = [1, 1, 1, 1], WidthPerGroup = 2 },
        Audio = new AudioCnnConfig { StageBlocks = [1, 1, 1, 1], WidthPerGroup = 2 },
        Transformer = new TransformerConfig { HiddenSize = 16, NumHeads = 2, IntermediateSize = 32, NumLayers = 1, Rank = 4 },
        Fusion = fusion,
    };

    public static TransferModel Build(DownstreamTask task, TransferProtocol protocol, int classes = 3, Fusion fusion = Fusion.Mid, long seed = 0)
    {
        manual_seed(seed);
        return new TransferModel(new AvBertModel(Model(fusion), Data), new TransferModelOptions(task, protocol, classes));
    }

    /// <summary>visual [B, T, 3, F, S, S], audio [B, T, 1, FREQ, TIME].</summary>
    public static (Tensor Visual, Tensor Audio) Inputs(int batch, int clips, long seed = 0)
    {
        var g = new Generator((ulong)seed);
        var d = Data;
        return (randn([batch, clips, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize], generator: g),
                randn([batch, clips, 1, d.AudioFrequency, d.AudioTime], generator: g));
    }
}
