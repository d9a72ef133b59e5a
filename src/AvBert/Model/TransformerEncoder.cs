using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>
/// A stack of L post-LN Transformer layers (SPEC §5) and its distinct weights. Without cross-layer sharing there are L
/// distinct layers; with it (ALBERT) there are groups·inner distinct layers, and application i of L runs group
/// ⌊i / (L/groups)⌋'s inner layers in order. One stack may serve several Transformers (cross-Transformer sharing):
/// each runs it through <see cref="For"/>, which binds that Transformer's private low-rank factors once.
/// </summary>
public sealed class TransformerEncoder : Module
{
    readonly ModuleList<TransformerLayer> layers;
    readonly int[] schedule;        // index into layers for each layer application, in order

    public TransformerEncoder(TransformerConfig t, LowRankOptions? lowRank) : base(nameof(TransformerEncoder))
    {
        var o = TransformerLayerOptions.From(t, lowRank);
        schedule = Schedule(t);
        int distinct = t.ShareAcrossLayers ? t.NumLayerGroups * t.InnerLayersPerGroup : t.NumLayers;
        layers = new ModuleList<TransformerLayer>();
        for (int i = 0; i < distinct; i++) layers.Add(new TransformerLayer(o));
        RegisterComponents();
    }

    /// <summary>Distinct layers (weights), in the order of their names layers.0, layers.1, ...</summary>
    public IReadOnlyList<TransformerLayer> Layers => layers.ToList();

    /// <summary>Which distinct layer runs at each of the L (× inner) applications.</summary>
    public IReadOnlyList<int> LayerSchedule => schedule;

    public static int[] Schedule(TransformerConfig t)
    {
        if (!t.ShareAcrossLayers) return Enumerable.Range(0, t.NumLayers).ToArray();
        var order = new List<int>();
        double perGroup = (double)t.NumLayers / t.NumLayerGroups;
        for (int i = 0; i < t.NumLayers; i++)
        {
            int group = (int)(i / perGroup);
            for (int j = 0; j < t.InnerLayersPerGroup; j++) order.Add(group * t.InnerLayersPerGroup + j);
        }
        return order.ToArray();
    }

    /// <summary>Checkpoint each layer application (train.checkpoint_activations transformer or all).</summary>
    public bool CheckpointSegments { get; set; }

    /// <summary>The Transformer named <paramref name="transformer"/> (visual, audio or multimodal): [B, S, D] → [B, S, D].</summary>
    public Module<Tensor, Tensor> For(string transformer)
    {
        var bound = layers.Select(l => new Application(l, l.For(transformer), l.Sigmas(transformer))).ToArray();
        return new Runner(this, schedule.Select(i => bound[i]).ToArray());
    }

    /// <summary>One layer as a Transformer runs it: its weights, the bound runner, and the Σ of its private factors.</summary>
    sealed record Application(TransformerLayer Layer, Module<Tensor, Tensor> Run, IReadOnlyList<OrthogonalMatrix> Sigmas);

    sealed class Runner(TransformerEncoder owner, Application[] applications) : Module<Tensor, Tensor>("TransformerRunner")
    {
        public override Tensor forward(Tensor x)
        {
            using var sigmas = OrthogonalMatrix.Pass();
            foreach (var a in applications) x = owner.CheckpointSegments ? Checkpointed(a, x) : a.Run.call(x);
            return x;
        }

        // The layer's Σ are computed once per pass outside it; the recomputation uses detached copies (their gradients
        // flow back through the checkpoint to the pass's Σ, and from there once to each free parameter).
        static Tensor Checkpointed(Application a, Tensor x) => ActivationCheckpoint.Run((h, captured) =>
        {
            using var substituted = OrthogonalMatrix.Substitute(a.Sigmas, captured);
            return a.Run.call(h);
        }, x, a.Layer, a.Sigmas.Select(m => m.forward()).ToArray(), random: a.Layer.training && a.Layer.HasDropout);
    }
}
