using AvBert.Config;
using static TorchSharp.torch;

namespace AvBert.Pretraining;

/// <summary>
/// Chooses K negatives for each MEP anchor among the minibatch's embeddings of the same modality (SPEC §7). All four
/// strategies build a weight matrix [anchors, candidates] (the positive always has weight 0) and draw K columns per row
/// by Gumbel top-k on the device (<see cref="SampleRows"/>): vectorised, no per-sample loops, no host reads.
/// <list type="bullet">
/// <item>Current-Sequence: uniform over the other steps of the anchor's own sequence.</item>
/// <item>Current-MiniBatch: uniform over all B·T embeddings except the positive.</item>
/// <item>CANS: ℓ2 distances (detached) from the anchor to every candidate, min-max normalised per anchor to [0,1];
/// candidates outside mean ± σ·std of those distances are dropped; p ∝ 1 − d (Similar) or p ∝ d (Dissimilar).</item>
/// </list>
/// Rows with at least K eligible candidates are sampled without replacement; rows with fewer (Current-Sequence when
/// T−1 &lt; K, tiny batches) are sampled with replacement, so every anchor always gets exactly K negatives. A row with
/// no eligible candidate at all (T = 1 for Current-Sequence) falls back to Current-MiniBatch.
/// </summary>
public static class NegativeSampler
{
    /// <summary>Tiny weight added to every eligible CANS candidate so that the extremes (d = 0 or 1) stay possible.</summary>
    public const double CansFloor = 1e-3;

    /// <param name="candidates">[B,T,D] embeddings of one modality (the MEP targets); detached here.</param>
    /// <param name="anchors">[N] long: flat indices b·T + t of the positives.</param>
    /// <returns>[N,K] long: flat indices of the negatives.</returns>
    public static Tensor Sample(NegativeSampling kind, Tensor candidates, Tensor anchors, int k, double intervalSigma = 1.96)
    {
        using var noGrad = no_grad();
        var w = Weights(kind, candidates, anchors, intervalSigma);
        return SampleRows(w, k);
    }

    /// <summary>The sampling weights [N, B·T] of a strategy (0 = never drawn). Exposed for tests.</summary>
    public static Tensor Weights(NegativeSampling kind, Tensor candidates, Tensor anchors, double intervalSigma = 1.96)
    {
        using var noGrad = no_grad();
        long B = candidates.shape[0], T = candidates.shape[1], D = candidates.shape[2];
        long C = B * T;
        if (C < 2) throw new ArgumentException("MEP needs at least two embeddings per modality in a batch (B·T ≥ 2).");
        var dev = candidates.device;
        var cols = arange(C, device: dev).unsqueeze(0);                       // [1,C]
        var notSelf = cols != anchors.unsqueeze(1);                           // [N,C]
        switch (kind)
        {
            case NegativeSampling.CurrentMinibatch:
                return notSelf.to(float32);
            case NegativeSampling.CurrentSequence:
            {
                if (T == 1) return notSelf.to(float32); // no other step: fall back to the minibatch
                var sameSeq = cols.div(T, rounding_mode: RoundingMode.floor) == anchors.div(T, rounding_mode: RoundingMode.floor).unsqueeze(1);
                return (sameSeq & notSelf).to(float32);
            }
            case NegativeSampling.CansSimilar:
            case NegativeSampling.CansDissimilar:
            {
                var flat = candidates.detach().reshape(C, D).to(float32);
                var d = cdist(flat.index_select(0, anchors), flat);                 // [N,C]
                var big = full_like(d, double.PositiveInfinity);
                var dMin = where(notSelf, d, big).amin([1], keepdim: true);
                var dMax = where(notSelf, d, -big).amax([1], keepdim: true);
                var dn = ((d - dMin) / (dMax - dMin).clamp_min(1e-12)).clamp(0, 1);  // min-max per anchor
                var valid = notSelf.to(float32);
                var count = valid.sum(1, keepdim: true);
                var mean = (dn * valid).sum(1, keepdim: true) / count;
                var std = ((dn - mean).pow(2) * valid).sum(1, keepdim: true).div(count).sqrt();
                var inside = (dn - mean).abs() <= intervalSigma * std + 1e-6;
                var keep = notSelf & inside;
                keep = where((keep.sum(1, keepdim: true) == 0), notSelf, keep).to(float32);
                var p = kind == NegativeSampling.CansSimilar ? 1 - dn : dn;
                return (p + CansFloor) * keep;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    /// <summary>
    /// K column indices per row of <paramref name="weights"/> [N,C]: without replacement where a row has ≥ K non-zero
    /// weights, with replacement otherwise — without reading anything back to the host (no sync on a GPU). Without
    /// replacement is Gumbel top-k (the K largest of log w + Gumbel noise: successive sampling ∝ w, the same
    /// distribution as <c>torch.multinomial</c> without replacement); with replacement is K independent Gumbel-max draws
    /// (categorical ∝ w). Both are computed for every row and each row keeps the one that applies.
    /// </summary>
    public static Tensor SampleRows(Tensor weights, int k)
    {
        using var scope = NewDisposeScope();
        long n = weights.shape[0], c = weights.shape[1];
        var logW = weights.to(float32).log();                                   // −inf where the weight is 0
        var withReplacement = (logW.unsqueeze(1) + Gumbel([n, k, c], weights.device)).argmax(-1);   // [N,K]
        if (k > c) return withReplacement.MoveToOuterDisposeScope();
        var withoutReplacement = (logW + Gumbel([n, c], weights.device)).topk(k, dim: 1).indexes;    // [N,K]
        var enough = ((weights > 0).sum(1) >= k).unsqueeze(1);
        return where(enough, withoutReplacement, withReplacement).MoveToOuterDisposeScope();
    }

    /// <summary>Standard Gumbel noise −log(E), E ~ Exp(1).</summary>
    static Tensor Gumbel(long[] shape, Device device) => empty(shape, dtype: float32, device: device).exponential_().log().neg();
}
