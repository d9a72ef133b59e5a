using AvBert.Config;
using AvBert.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Pretraining;

/// <summary>
/// The MEP score head: I(x, o) = exp(g(o)ᵀ W x), with g a small MLP (Linear → GELU → LayerNorm → Linear) on the
/// contextual output o and W a bilinear matrix (initialised to the identity, so the first scores are plain dot products).
/// </summary>
public sealed class MepHead : Module<Tensor, Tensor>
{
    readonly Linear dense, output;
    readonly LayerNorm norm;
    readonly Parameter bilinear; // W [D,D]

    public MepHead(string name, int hidden, double layerNormEps = 1e-12) : base(name)
    {
        dense = Linear(hidden, hidden);
        norm = LayerNorm(hidden, layerNormEps);
        output = Linear(hidden, hidden);
        bilinear = new Parameter(eye(hidden));
        RegisterComponents();
    }

    /// <summary>o [N,D] → q = g(o)ᵀ W [N,D]; the score of a target x is q·x.</summary>
    public override Tensor forward(Tensor o) => output.call(norm.call(functional.gelu(dense.call(o)))).matmul(bilinear);
}

/// <summary>How MEP scores a masked position against its candidates (pretrain.sampler, negatives, mep_score, ...).</summary>
/// <param name="Sampler">Where the negatives come from.</param>
/// <param name="NegativeCount">K, the negatives per masked position.</param>
/// <param name="IntervalSigma">CANS's σ of the sampled interval.</param>
/// <param name="Score">dot (paper) or cosine with <paramref name="Temperature"/>.</param>
/// <param name="Temperature">Divides the cosine scores.</param>
/// <param name="DetachTargets">Stop gradients through the targets and negatives.</param>
public sealed record MepOptions(NegativeSampling Sampler, int NegativeCount, double IntervalSigma,
                                MepScore Score = MepScore.Dot, double Temperature = 0.1, bool DetachTargets = false);

/// <summary>MEP on one stream: the loss, the accuracy (the positive scores highest) and, as a diagnostic, the share of the
/// negatives drawn from the anchor's own video — its other clips, which are near-copies of the positive when a video
/// changes little from clip to clip (a still picture, one recording), so a sampler that favours them (CANS-Similar) makes
/// the task hard or unsolvable. Uniform over the minibatch gives (T−1)/(B·T−1).</summary>
public sealed record MepResult(Tensor Loss, Tensor Accuracy, Tensor OwnVideoNegatives)
{
    public void Deconstruct(out Tensor loss, out Tensor accuracy) => (loss, accuracy) = (Loss, Accuracy);
}

/// <summary>The candidates MEP draws its negatives from under pretrain.sample_across_ranks: one modality's targets of
/// the global batch [ranks·B,T,D] (gathered once a step and shared by the streams that score that modality), this rank's
/// videos from <paramref name="FirstVideo"/> on.</summary>
public sealed record CandidatePool(Tensor Targets, long FirstVideo)
{
    public static CandidatePool Gather(IRankGroup ranks, Tensor targets) =>
        new(RankGather.AllGather(ranks, targets.contiguous()), ranks.Rank * targets.shape[0]);
}

/// <summary>The contrastive MEP objective on one stream's masked positions.</summary>
public static class MaskedEmbeddingPrediction
{
    /// <summary>
    /// InfoNCE with the positive in the denominator, averaged over anchors:
    /// L = −mean_n log( exp(q_n·x⁺_n) / (exp(q_n·x⁺_n) + Σ_k exp(q_n·x⁻_{n,k})) ).
    /// </summary>
    /// <param name="queries">[N,D] q = g(o)ᵀW at the masked positions.</param>
    /// <param name="positives">[N,D] the true (unmasked) embeddings x; not detached: the CNNs learn through them.</param>
    /// <param name="negatives">[N,K,D] the sampled negatives; not detached either.</param>
    /// <returns>(loss scalar, accuracy scalar: fraction of anchors whose positive scores highest, detached).</returns>
    /// <param name="temperature">Scores are divided by it (1 = the paper's plain scores).</param>
    public static (Tensor Loss, Tensor Accuracy) InfoNce(Tensor queries, Tensor positives, Tensor negatives, double temperature = 1.0)
    {
        var pos = (queries * positives).sum(-1, keepdim: true);                     // [N,1]
        var neg = negatives.bmm(queries.unsqueeze(-1)).squeeze(-1);                 // [N,K]
        var logits = cat([pos, neg], 1);                                            // [N,1+K]
        if (temperature != 1.0) logits = logits / temperature;
        var loss = -logits.log_softmax(1).select(1, 0).mean();
        var acc = (logits.detach().argmax(1) == 0).to(float32).mean();
        return (loss, acc);
    }

    /// <summary>
    /// MEP for one modality's masked positions seen through one output stream.
    /// </summary>
    /// <param name="head">The stream's head.</param>
    /// <param name="outputs">[B,T,D] the stream's contextual outputs for the modality's T clip positions (BOS removed).</param>
    /// <param name="targets">[B,T,D] the unmasked projected CNN embeddings x of that modality (the candidates).</param>
    /// <param name="positions">[B,M] masked steps.</param>
    /// <param name="options">Sampler, negative count, score.</param>
    /// <param name="global">pretrain.sample_across_ranks in a data-parallel job: every rank's <paramref name="targets"/>
    /// (<see cref="CandidatePool.Gather"/>), so negatives come from the global batch; null: this batch's own.</param>
    public static MepResult Loss(MepHead head, Tensor outputs, Tensor targets, Tensor positions, MepOptions options, CandidatePool? global = null)
    {
        if (options.DetachTargets) targets = targets.detach();
        long B = targets.shape[0], T = targets.shape[1], D = targets.shape[2];
        var local = (arange(B, device: targets.device).unsqueeze(1) * T + positions).flatten();     // [N] flat b·T+t in this batch
        // The candidate pool: this batch, or the global batch with this rank's videos from FirstVideo on (anchors shifted).
        var pool = global is null ? targets : options.DetachTargets ? global.Targets.detach() : global.Targets;
        var anchors = global is null ? local : local + global.FirstVideo * T;                       // [N] flat indices into the pool
        bool cosine = options.Score == MepScore.Cosine;
        // Cosine scores: every candidate scaled to unit length once, before the positives and negatives are gathered.
        var flatTargets = pool.reshape(-1, D);
        if (cosine) flatTargets = functional.normalize(flatTargets, dim: -1);
        var o = outputs.reshape(B * T, D).index_select(0, local);                                  // [N,D]
        var q = head.call(o);
        if (cosine) q = functional.normalize(q, dim: -1);
        var pos = flatTargets.index_select(0, anchors);
        var negIdx = NegativeSampler.Sample(options.Sampler, pool, anchors, options.NegativeCount, options.IntervalSigma);   // [N,K], from the raw distances
        var neg = flatTargets.index_select(0, negIdx.flatten()).reshape(negIdx.shape[0], negIdx.shape[1], D);
        var (loss, acc) = InfoNce(q, pos, neg, cosine ? options.Temperature : 1.0);
        var ownVideo = (negIdx.div(T, rounding_mode: RoundingMode.floor) == anchors.div(T, rounding_mode: RoundingMode.floor).unsqueeze(1)).to(float32).mean();
        return new MepResult(loss, acc, ownVideo);
    }
}
