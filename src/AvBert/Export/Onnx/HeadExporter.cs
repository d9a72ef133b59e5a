using AvBert.Downstream;
using AvBert.Downstream.Heads;
using TorchSharp.Modules;

namespace AvBert.Export.Onnx;

/// <summary>
/// A fine-tuned model's heads as ONNX nodes (<see cref="TransferModel"/>; dropout is off in eval): the clip head
/// (Linear on pooled CNN features) and the sequence head (<see cref="SequenceHead"/>: [z_BOS ; z_t] pairs of each
/// half, bias-free Linears, sum, LayerNorm, Linear). Both give logits per clip, [B·T, C].
/// </summary>
public static class HeadExporter
{
    /// <summary>features [N, C_in] → logits [N, classes].</summary>
    public static string Clip(OnnxGraph g, TransferModel transfer, string features)
    {
        var head = CnnExporter.Children(CnnExporter.Children(transfer)["clip_head"]);
        var projection = (Linear)head["projection"];
        return g.Linear(features, projection.weight!, projection.bias, "clip_head.projection");
    }

    /// <summary>The visual and audio halves [B, T+1, D] (BOS first) → logits [B·T, classes].</summary>
    public static string Sequence(OnnxGraph g, TransferModel transfer, string visual, string audio)
    {
        var head = CnnExporter.Children(CnnExporter.Children(transfer)["sequence_head"]);
        int d = transfer.Backbone.HiddenSize;
        string Pairs(string seq)                                                    // [B, T+1, D] → [B·T, 2D]
        {
            var steps = g.Slice(seq, g.Ints(1), g.Ints(long.MaxValue), 1);          // [B, T, D]
            var bos = g.Node("Expand", [g.Slice(seq, g.Ints(0), g.Ints(1), 1), g.Node("Shape", [steps], "pairs.shape")], "pairs.bos");
            return g.Reshape(g.Concat(-1, bos, steps), g.Ints(-1, 2 * d));
        }
        var v = (Linear)head["visual_fc"];
        var a = (Linear)head["audio_fc"];
        var sum = g.Add(g.Linear(Pairs(visual), v.weight!, null, "sequence_head.visual_fc"), g.Linear(Pairs(audio), a.weight!, null, "sequence_head.audio_fc"));
        var norm = (LayerNorm)head["norm"];
        var projection = (Linear)head["projection"];
        var h = g.LayerNorm(sum, norm.weight!, norm.bias!, transfer.Options.HeadLayerNormEps, "sequence_head.norm");
        return g.Linear(h, projection.weight!, projection.bias, "sequence_head.projection");
    }
}
