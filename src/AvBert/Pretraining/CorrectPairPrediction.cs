using AvBert.Config;
using AvBert.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Pretraining;

/// <summary>Which audio sequence each video gets for CPP, and whether it is its own.</summary>
/// <param name="AudioSource">[B] long: index of the video whose audio sample b receives.</param>
/// <param name="Labels">[B] float: 1 = the correct pair, 0 = another video's audio.</param>
public sealed record CppPairing(Tensor AudioSource, Tensor Labels);

/// <summary>Correct pair prediction's settings (pretrain.cpp_*).</summary>
/// <param name="Fraction">Share of each batch that gets another video's audio (0 = CPP off).</param>
/// <param name="Weight">Weight of the CPP loss in the total.</param>
/// <param name="Input">How the head combines its visual and audio inputs.</param>
/// <param name="Pooling">What the head reads: the BOS outputs or the clip outputs' mean.</param>
/// <param name="Masked">Read the masked forward pass (true) or a second, unmasked pass of the Transformers.</param>
/// <param name="ExtraPairs">Extra (mostly wrong) pairs per video scored by the Transformers and head only (see <see cref="CorrectPairPrediction.ExtraPairs"/>).</param>
public sealed record CppOptions(double Fraction = 0.5, double Weight = 1.0, CppInput Input = CppInput.Concat, CppPooling Pooling = CppPooling.Bos,
                                bool Masked = true, int ExtraPairs = 0);

/// <summary>
/// Correct pair prediction (SPEC §7, [ours] details): a random subset of round(fraction·B) videos (at least 2 when
/// any, none when B &lt; 2) gets another video's audio sequence — a derangement within the subset (a random cycle, so
/// no video keeps its own audio) — and a binary head on the multimodal BOS outputs predicts whether the pair is correct.
/// </summary>
public static class CorrectPairPrediction
{
    public static int SwapCount(long batch, double fraction)
    {
        if (batch < 2 || fraction <= 0) return 0;
        var m = (int)Math.Round(fraction * batch, MidpointRounding.AwayFromZero);
        return (int)Math.Clamp(m, 2, batch);
    }

    /// <summary>Draws the pairing with torch's generator (reproducible under the trainer's per-step seeding).</summary>
    public static CppPairing Pair(long batch, double fraction, Device? device = null)
    {
        var source = arange(batch, dtype: int64, device: device);
        var labels = ones(batch, device: device);
        int m = SwapCount(batch, fraction);
        if (m == 0) return new CppPairing(source, labels);
        var chosen = randperm(batch, device: device)[..m];                       // the swapped videos
        source = source.index_copy(0, chosen, chosen.roll(1, 0));                  // chosen[i] gets chosen[i-1]'s audio
        labels = labels.index_fill(0, chosen, 0.0);
        return new CppPairing(source, labels);
    }

    /// <summary>
    /// The extra pairs of pretrain.cpp_extra_pairs: round r = 1..K gives video b the audio sequence now at position
    /// (b − r) mod B of the batch; that sequence came from video <paramref name="audioSource"/>[(b − r) mod B], so a pair
    /// is correct only where the CPP swap had moved b's own audio there. K is capped at B − 1.
    /// Returns the audio positions [K·n] (round-major, to index_select the batch) and their labels [K·n].
    /// </summary>
    /// <param name="audioSource">[B] the pairing of the whole batch (the global batch under pretrain.sample_across_ranks).</param>
    /// <param name="first">The first video of the rows this process scores (a rank's offset in the global batch).</param>
    /// <param name="count">How many (n; −1: all B).</param>
    public static (Tensor Positions, Tensor Labels) ExtraPairs(Tensor audioSource, int extra, long first = 0, long count = -1)
    {
        long B = audioSource.shape[0];
        if (count < 0) count = B - first;
        int K = (int)Math.Min(extra, B - 1);
        var b = arange(first, first + count, dtype: int64, device: audioSource.device);
        if (K <= 0) return (empty(0, dtype: int64, device: audioSource.device), empty(0, device: audioSource.device));
        var positions = cat(Enumerable.Range(1, K).Select(r => (b - r).remainder(B)).ToArray());
        var labels = (audioSource.index_select(0, positions) == b.repeat(K)).to(float32);
        return (positions, labels);
    }

    /// <summary>BCE over pairs in which the positives and the negatives weigh half each (as in the paper's half-swapped
    /// batch), whatever their counts. With <paramref name="ranks"/> the counts are the global batch's and the loss is scaled
    /// so that its mean over the ranks is one process's loss on the whole batch.</summary>
    public static Tensor BalancedLoss(Tensor logits, Tensor labels, IRankGroup? ranks = null)
    {
        var (pos, neg) = (labels.sum(), (1 - labels).sum());
        if (ranks is not null) (pos, neg) = (RankGather.Sum(ranks, pos), RankGather.Sum(ranks, neg));
        var weight = labels / pos.clamp_min(1) + (1 - labels) / neg.clamp_min(1);
        var loss = functional.binary_cross_entropy_with_logits(logits, labels, weight, reduction: Reduction.Sum) / 2;
        return ranks is null ? loss : loss * ranks.Size;
    }

    /// <summary>Binary cross-entropy on the head's logits; accuracy detached.</summary>
    public static (Tensor Loss, Tensor Accuracy) Loss(Tensor logits, Tensor labels)
    {
        var loss = functional.binary_cross_entropy_with_logits(logits, labels);
        var acc = ((logits.detach() > 0).to(float32) == labels).to(float32).mean();
        return (loss, acc);
    }
}

/// <summary>CPP head: (visual BOS, audio BOS) → concat or sum → Linear → GELU → LayerNorm → Linear → 1 logit (per clip position, averaged, with pretrain.cpp_pooling clips).</summary>
public sealed class CppHead : Module<Tensor, Tensor, Tensor>
{
    readonly Linear dense, output;
    readonly LayerNorm norm;
    readonly CppInput _input;

    public CppHead(string name, int hidden, CppInput input, double layerNormEps = 1e-12) : base(name)
    {
        _input = input;
        dense = Linear(input == CppInput.Concat ? 2 * hidden : hidden, hidden);
        norm = LayerNorm(hidden, layerNormEps);
        output = Linear(hidden, 1);
        RegisterComponents();
    }

    /// <summary>visual, audio [B,D] → logits [B]; per-clip inputs [B,T,D] → each position's pair scored, the T logits averaged → [B].</summary>
    public override Tensor forward(Tensor visual, Tensor audio)
    {
        var h = _input == CppInput.Concat ? cat([visual, audio], -1) : visual + audio;
        var logits = output.call(norm.call(functional.gelu(dense.call(h)))).squeeze(-1);
        return logits.dim() == 2 ? logits.mean([1]) : logits;
    }
}

/// <summary>Audio-visual retrieval through the correct-pair head: AVBERT has no shared embedding space, its audio-visual
/// matching is this head.</summary>
public static class CppRetrieval
{
    /// <summary>
    /// Scores [N audio, N video] on the CPU: entry (i, j) is the head's logit for video j with audio i, read (as
    /// <paramref name="pooling"/> says) from the Transformers run on x^v_j and x^a_i (<paramref name="xv"/>,
    /// <paramref name="xa"/> [N,T,D] on the model's device). Row i ranks the videos for audio query i (audio→video);
    /// the transpose ranks the soundtracks for each video (video→audio). N Transformer passes of N pairs each.
    /// </summary>
    public static Tensor Scores(Model.AvBertModel model, CppHead head, CppPooling pooling, Tensor xv, Tensor xa, CancellationToken ct = default)
    {
        head.eval();
        model.eval();
        using var _ = no_grad();
        long n = xv.shape[0];
        var scores = zeros(n, n);                                       // [audio query, video key]
        for (int i = 0; i < n; i++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var ctx = model.Contextualize(xv, xa[i].unsqueeze(0).expand(n, -1, -1));
            var (vIn, aIn) = AvBertPretrainer.CppInputs(ctx, pooling);
            scores[i] = head.call(vIn, aIn).cpu();  // host read: retrieval scoring after training, not the step
        }
        return scores;
    }
}
