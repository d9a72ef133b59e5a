using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Downstream.Heads;

/// <summary>Sizes and init of a classification head.</summary>
/// <param name="InitStd">Std of the normal init of every Linear weight (the reference's FC_INIT_STD, 0.01); biases start at 0.</param>
public sealed record HeadOptions(int InputDim, int NumClasses, double Dropout = 0.5, double InitStd = 0.01, double LayerNormEps = 1e-5);

/// <summary>
/// Linear classifier on pooled features: dropout → Linear → logits. The visual (UCF101) and audio (ESC-50) heads,
/// and the clip head of the audiovisual task on the concatenated pooled CNN features (the reference's ConcatHead).
/// </summary>
public sealed class ClassifierHead : Module<Tensor, Tensor>
{
    readonly Dropout dropout;
    readonly Linear projection;

    public ClassifierHead(HeadOptions o) : base(nameof(ClassifierHead))
    {
        dropout = Dropout(o.Dropout);
        projection = Linear(o.InputDim, o.NumClasses, hasBias: true);
        HeadInit.Apply(projection, o.InitStd);
        RegisterComponents();
    }

    /// <summary>[N, InputDim] → logits [N, NumClasses].</summary>
    public override Tensor forward(Tensor features) => projection.call(dropout.call(features));
}

/// <summary>
/// Sequence head on Transformer outputs (the reference's ConcatSeqHead): for clip t, the visual pair
/// [z^v_BOS ; z^v_t] and the audio pair [z^a_BOS ; z^a_t] (each 2D) go through dropout and a bias-free Linear to D,
/// are summed, layer-normalised and projected to the classes.
/// </summary>
public sealed class SequenceHead : Module<Tensor, Tensor, Tensor>
{
    readonly Dropout dropout_visual, dropout_audio;
    readonly Linear visual_fc, audio_fc, projection;
    readonly LayerNorm norm;

    /// <param name="o">InputDim is the Transformer width D (the pairs are 2D wide).</param>
    public SequenceHead(HeadOptions o) : base(nameof(SequenceHead))
    {
        int d = o.InputDim;
        dropout_visual = Dropout(o.Dropout);
        dropout_audio = Dropout(o.Dropout);
        visual_fc = Linear(2 * d, d, hasBias: false);
        audio_fc = Linear(2 * d, d, hasBias: false);
        norm = LayerNorm(d, o.LayerNormEps);
        projection = Linear(d, o.NumClasses, hasBias: true);
        HeadInit.Apply(visual_fc, o.InitStd);
        HeadInit.Apply(audio_fc, o.InitStd);
        HeadInit.Apply(projection, o.InitStd);
        RegisterComponents();
    }

    /// <summary>visual and audio pairs [N, 2D] → logits [N, NumClasses].</summary>
    public override Tensor forward(Tensor visualPairs, Tensor audioPairs)
    {
        using var x = visual_fc.call(dropout_visual.call(visualPairs));
        using var y = audio_fc.call(dropout_audio.call(audioPairs));
        using var h = norm.call(x + y);
        return projection.call(h);
    }

    /// <summary>
    /// [B, T+1, D] Transformer outputs with BOS at position 0 → [B·T, 2D] rows [out_BOS ; out_t] for t = 1..T.
    /// </summary>
    public static Tensor Pairs(Tensor sequence)
    {
        long b = sequence.shape[0], t = sequence.shape[1] - 1, d = sequence.shape[2];
        using var bos = sequence.narrow(1, 0, 1).expand(b, t, d);
        using var steps = sequence.narrow(1, 1, t);
        using var cat = torch.cat([bos, steps], dim: -1);
        return cat.reshape(b * t, 2 * d);
    }
}

static class HeadInit
{
    public static void Apply(Linear linear, double std)
    {
        using var _ = no_grad();
        init.normal_(linear.weight!, 0, std);
        if (linear.bias is { } b) init.zeros_(b);
    }
}
