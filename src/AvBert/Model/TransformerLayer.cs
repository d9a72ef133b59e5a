using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>Low-rank factorisation of every Transformer weight (SPEC §6): rank O and the Transformers with private V, Σ.</summary>
public sealed record LowRankOptions(int Rank, IReadOnlyList<string> Transformers, OrthogonalMap Map, OrthogonalInit Init);

/// <summary>
/// Sizes of one post-LN Transformer layer (SPEC §5). The dropout placement follows the reference: with cross-layer
/// sharing (its ALBERT code) the attention output uses the attention dropout and the feed-forward output has none;
/// without (its BERT code) both use the hidden dropout.
/// </summary>
public sealed record TransformerLayerOptions(
    int HiddenSize, int NumHeads, int IntermediateSize, HiddenActivation Activation,
    double AttentionProbsDropout, double AttentionOutputDropout, double FeedForwardDropout,
    double LayerNormEps, LowRankOptions? LowRank)
{
    public static TransformerLayerOptions From(TransformerConfig t, LowRankOptions? lowRank) => new(
        t.HiddenSize, t.NumHeads, t.IntermediateSize, t.HiddenAct,
        AttentionProbsDropout: t.AttentionDropout,
        AttentionOutputDropout: t.ShareAcrossLayers ? t.AttentionDropout : t.HiddenDropout,
        FeedForwardDropout: t.ShareAcrossLayers ? 0.0 : t.HiddenDropout,
        LayerNormEps: t.LayerNormEps, LowRank: lowRank);

    /// <summary>A dense weight N→M: an ordinary Linear, or the low-rank shared linear when factorised.</summary>
    internal Module Dense(int inFeatures, int outFeatures) => LowRank is null
        ? Linear(inFeatures, outFeatures)
        : new LowRankSharedLinear(inFeatures, outFeatures, LowRank.Rank, LowRank.Transformers, LowRank.Map, LowRank.Init);

    /// <summary>The dense weight as Transformer <paramref name="transformer"/> computes it.</summary>
    internal static Module<Tensor, Tensor> Bind(Module dense, string transformer) => dense switch
    {
        LowRankSharedLinear l => l.For(transformer),
        Linear linear => linear,
        _ => throw new InvalidOperationException($"not a dense weight: {dense.GetType().Name}"),
    };
}

/// <summary>
/// Multi-head self-attention with its residual and post-LN: LN(x + Dropout(W_o · softmax(QKᵀ/√d_head) V)).
/// Holds the weights; a Transformer runs it through <see cref="For"/>. All masks are all-ones (fixed-length sequences).
/// </summary>
public sealed class MultiHeadSelfAttention : Module
{
    readonly Module query, key, value, output;
    readonly LayerNorm layer_norm;
    readonly TransformerLayerOptions options;

    public MultiHeadSelfAttention(TransformerLayerOptions o) : base(nameof(MultiHeadSelfAttention))
    {
        options = o;
        int d = o.HiddenSize;
        query = o.Dense(d, d);
        key = o.Dense(d, d);
        value = o.Dense(d, d);
        output = o.Dense(d, d);
        layer_norm = LayerNorm(d, o.LayerNormEps);
        RegisterComponents();
    }

    public Module<Tensor, Tensor> For(string transformer) => new Runner(new Wiring(
        this, TransformerLayerOptions.Bind(query, transformer), TransformerLayerOptions.Bind(key, transformer),
        TransformerLayerOptions.Bind(value, transformer), TransformerLayerOptions.Bind(output, transformer), layer_norm, options));

    sealed record Wiring(Module Owner, Module<Tensor, Tensor> Query, Module<Tensor, Tensor> Key, Module<Tensor, Tensor> Value,
                         Module<Tensor, Tensor> Output, LayerNorm Norm, TransformerLayerOptions Options);

    sealed class Runner(Wiring w) : Module<Tensor, Tensor>("MultiHeadSelfAttentionRunner")
    {
        public override Tensor forward(Tensor x)
        {
            // x [B, S, D] → q, k, v [B, H, S, D/H]
            long b = x.shape[0], s = x.shape[1];
            int h = w.Options.NumHeads, dh = w.Options.HiddenSize / h;
            Tensor Heads(Module<Tensor, Tensor> proj) => proj.call(x).view(b, s, h, dh).transpose(1, 2);
            bool training = w.Owner.training;
            var context = functional.scaled_dot_product_attention(Heads(w.Query), Heads(w.Key), Heads(w.Value),
                p: training ? w.Options.AttentionProbsDropout : 0.0);
            context = context.transpose(1, 2).reshape(b, s, h * dh);                        // [B, S, D]
            var projected = functional.dropout(w.Output.call(context), w.Options.AttentionOutputDropout, training);
            return w.Norm.call(x + projected);
        }
    }
}

/// <summary>Position-wise feed-forward with its residual and post-LN: LN(h + Dropout(W_2 · act(W_1 h))).</summary>
public sealed class FeedForward : Module
{
    readonly Module intermediate, output;
    readonly LayerNorm layer_norm;
    readonly TransformerLayerOptions options;

    public FeedForward(TransformerLayerOptions o) : base(nameof(FeedForward))
    {
        options = o;
        intermediate = o.Dense(o.HiddenSize, o.IntermediateSize);
        output = o.Dense(o.IntermediateSize, o.HiddenSize);
        layer_norm = LayerNorm(o.HiddenSize, o.LayerNormEps);
        RegisterComponents();
    }

    public Module<Tensor, Tensor> For(string transformer) => new Runner(new Wiring(
        this, TransformerLayerOptions.Bind(intermediate, transformer), TransformerLayerOptions.Bind(output, transformer),
        layer_norm, Activations.Get(options.Activation), options.FeedForwardDropout));

    sealed record Wiring(Module Owner, Module<Tensor, Tensor> Intermediate, Module<Tensor, Tensor> Output, LayerNorm Norm,
                         Func<Tensor, Tensor> Activation, double Dropout);

    sealed class Runner(Wiring w) : Module<Tensor, Tensor>("FeedForwardRunner")
    {
        public override Tensor forward(Tensor h)
        {
            var y = w.Output.call(w.Activation(w.Intermediate.call(h)));            // [B, S, D]
            return w.Norm.call(h + functional.dropout(y, w.Dropout, w.Owner.training));
        }
    }
}

/// <summary>One post-LN Transformer layer's weights: self-attention then feed-forward (SPEC §5).</summary>
public sealed class TransformerLayer : Module
{
    readonly MultiHeadSelfAttention attention;
    readonly FeedForward feed_forward;

    public TransformerLayer(TransformerLayerOptions o) : base(nameof(TransformerLayer))
    {
        attention = new MultiHeadSelfAttention(o);
        feed_forward = new FeedForward(o);
        HasDropout = o.AttentionProbsDropout > 0 || o.AttentionOutputDropout > 0 || o.FeedForwardDropout > 0;
        RegisterComponents();
    }

    /// <summary>Whether the layer draws random numbers in training (dropout): a checkpoint must replay them.</summary>
    public bool HasDropout { get; }

    /// <summary>The Σ of Transformer <paramref name="transformer"/>'s private low-rank factors in this layer (none without low rank).</summary>
    public IReadOnlyList<OrthogonalMatrix> Sigmas(string transformer) =>
        modules().OfType<LowRankSharedLinear>().Select(l => l.Factor(transformer).Sigma).ToArray();

    /// <summary>The layer as Transformer <paramref name="transformer"/> computes it (its private low-rank factors bound once).</summary>
    public Module<Tensor, Tensor> For(string transformer) => new Runner((attention.For(transformer), feed_forward.For(transformer)));

    sealed class Runner((Module<Tensor, Tensor> Attention, Module<Tensor, Tensor> FeedForward) parts) : Module<Tensor, Tensor>("TransformerLayerRunner")
    {
        public override Tensor forward(Tensor x) => parts.FeedForward.call(parts.Attention.call(x));
    }
}

/// <summary>The feed-forward activations (the reference's HIDDEN_ACT).</summary>
public static class Activations
{
    public static Func<Tensor, Tensor> Get(HiddenActivation activation) => activation switch
    {
        HiddenActivation.Gelu => x => functional.gelu(x),                                   // erf form
        HiddenActivation.GeluNew => x => 0.5 * x * (1 + tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3)))),
        HiddenActivation.Relu => x => functional.relu(x),
        HiddenActivation.Swish => x => x * sigmoid(x),
        HiddenActivation.Mish => x => x * tanh(functional.softplus(x)),
        HiddenActivation.Identity => x => x,
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, null),
    };
}
