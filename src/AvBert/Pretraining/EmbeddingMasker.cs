using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Pretraining;

/// <summary>SPEC §7 [ours]: which positions are masked and what replaces them (BERT's 80/10/10 rule).</summary>
public sealed record MaskingOptions(double MaskProb = 0.15, double TokenFraction = 0.8, double RandomFraction = 0.1)
{
    /// <summary>Positions masked per sequence of <paramref name="steps"/>: max(1, round(MaskProb·T)), at most T.</summary>
    public int MaskCount(long steps) => (int)Math.Clamp(Math.Round(MaskProb * steps, MidpointRounding.AwayFromZero), 1, steps);
}

/// <summary>The masked input of one modality and where it was masked.</summary>
/// <param name="Input">[B,T,D] what the Transformers see.</param>
/// <param name="Positions">[B,M] long: the masked steps (0-based clip index t; the Transformer position is t+1).</param>
public sealed record MaskedSequence(Tensor Input, Tensor Positions);

/// <summary>
/// Masks M = max(1, round(p·T)) distinct random steps of every sequence of projected CNN embeddings x [B,T,D]: each
/// masked step is replaced by a learned mask vector (80%), by a random other embedding of the minibatch (10%) or
/// left unchanged (10%). One masker (one mask vector) per modality. Vectorised: no per-sample loops.
/// </summary>
public sealed class EmbeddingMasker : nn.Module
{
    readonly Parameter mask_vector; // [D]
    readonly MaskingOptions _o;

    public EmbeddingMasker(string name, int hidden, MaskingOptions options, double initializerRange = 0.02) : base(name)
    {
        _o = options;
        mask_vector = new Parameter(normal(0, initializerRange, [hidden]));
        RegisterComponents();
    }

    public Parameter MaskVector => mask_vector;

    public MaskedSequence Mask(Tensor x)
    {
        long B = x.shape[0], T = x.shape[1], D = x.shape[2];
        int M = _o.MaskCount(T);
        var positions = rand(B, T, device: x.device).topk(M, dim: 1).indexes;             // [B,M] distinct steps
        var u = rand(B, M, device: x.device);
        var toToken = (u < _o.TokenFraction).unsqueeze(-1);                                     // [B,M,1]
        var toRandom = ((u >= _o.TokenFraction) & (u < _o.TokenFraction + _o.RandomFraction)).unsqueeze(-1);

        var gatherIdx = positions.unsqueeze(-1).expand(B, M, D);
        var original = x.gather(1, gatherIdx);                                                  // [B,M,D]
        Tensor replaced;
        if (B * T > 1)
        {
            // A random other embedding of the minibatch: uniform over the B·T−1 others (shift past the masked one).
            var self = arange(B, device: x.device).unsqueeze(1) * T + positions;                // [B,M] flat index
            var other = randint(0, B * T - 1, [B, M], dtype: int64, device: x.device);
            other = other + (other >= self).to(int64);
            var randomEmb = x.reshape(B * T, D).index_select(0, other.flatten()).reshape(B, M, D);
            replaced = where(toRandom, randomEmb, original);
        }
        else replaced = original;
        replaced = where(toToken, mask_vector.to(x.dtype).expand(B, M, D), replaced);
        return new MaskedSequence(x.scatter(1, gatherIdx, replaced), positions);
    }
}
