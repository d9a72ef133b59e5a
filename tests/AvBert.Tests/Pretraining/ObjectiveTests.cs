using AvBert.Config;
using AvBert.Pretraining;
using AvBert.Tests.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Pretraining;

[Collection(TorchRngCollection.Name)]
public class ObjectiveTests
{
    [Fact]
    public void InfoNce_matches_a_hand_computed_case()
    {
        // Two anchors, D = 2, K = 2.
        var q = tensor(new float[] { 1, 0, 0, 2 }).reshape(2, 2);
        var pos = tensor(new float[] { 2, 1, 0.5f, 0.5f }).reshape(2, 2);
        var neg = tensor(new float[] { 1, 3, -1, 0, /**/ 0, 1, 1, -1 }).reshape(2, 2, 2);
        // scores: anchor 0: pos 2, neg 1, -1; anchor 1: pos 1, neg 2, -2.
        double L0 = -Math.Log(Math.Exp(2) / (Math.Exp(2) + Math.Exp(1) + Math.Exp(-1)));
        double L1 = -Math.Log(Math.Exp(1) / (Math.Exp(1) + Math.Exp(2) + Math.Exp(-2)));
        var (loss, acc) = MaskedEmbeddingPrediction.InfoNce(q, pos, neg);
        Assert.Equal((L0 + L1) / 2, loss.item<float>(), 5);
        Assert.Equal(0.5, acc.item<float>(), 6); // anchor 0 right, anchor 1 wrong
    }

    [Fact]
    public void InfoNce_divides_the_scores_by_the_temperature()
    {
        var q = tensor(new float[] { 1, 0 }).reshape(1, 2);
        var pos = tensor(new float[] { 0.6f, 0.8f }).reshape(1, 2);
        var neg = tensor(new float[] { 0, 1, -1, 0 }).reshape(1, 2, 2);
        // scores 0.6 | 0, −1, at τ = 0.1: 6 | 0, −10.
        double expected = -Math.Log(Math.Exp(6) / (Math.Exp(6) + Math.Exp(0) + Math.Exp(-10)));
        Assert.Equal(expected, MaskedEmbeddingPrediction.InfoNce(q, pos, neg, temperature: 0.1).Loss.item<float>(), 5);
    }

    [Fact]
    public void Cosine_scores_ignore_the_length_of_targets()
    {
        // The positive points exactly along the query but is short; the negative is 45° off and long. Dot scores pick the
        // negative, cosine scores the positive, with logits cos/τ = 1/0.5 and cos 45°/0.5.
        manual_seed(5);
        using var head = new MepHead("h", 4);
        var outputs = randn(1, 2, 4);
        using var q = head.call(outputs.reshape(2, 4))[0].detach();          // the query of (b 0, t 0)
        var r = randn(4);
        var perp = r - (r * q).sum() / (q * q).sum() * q;
        perp = perp * (q.norm() / perp.norm());                              // ⟂ q, as long as q
        var targets = stack([q * 0.01, (q + perp) * 100]).unsqueeze(0);      // [1,2,4]
        var positions = tensor(new long[] { 0 }).reshape(1, 1);
        var (_, dotAcc) = MaskedEmbeddingPrediction.Loss(head, outputs, targets, positions, new MepOptions(NegativeSampling.CurrentSequence, 1, 1.96));
        var (cosLoss, cosAcc) = MaskedEmbeddingPrediction.Loss(head, outputs, targets, positions,
                                                               new MepOptions(NegativeSampling.CurrentSequence, 1, 1.96, MepScore.Cosine, Temperature: 0.5));
        Assert.Equal(0.0, dotAcc.item<float>());
        Assert.Equal(1.0, cosAcc.item<float>());
        double pos = 1 / 0.5, neg = Math.Sqrt(0.5) / 0.5;
        Assert.Equal(-Math.Log(Math.Exp(pos) / (Math.Exp(pos) + Math.Exp(neg))), cosLoss.item<float>(), 4);
    }

    [Fact]
    public void The_share_of_negatives_from_the_anchors_own_video_is_reported_per_sampler()
    {
        // 16 videos of 4 clips; each video's clips are near-copies of one another (a still picture), the videos far apart.
        manual_seed(11);
        using var head = new MepHead("h", 8);
        const int B = 16, T = 4, K = 8;
        var outputs = randn(B, T, 8);
        var targets = randn(B, 1, 8) * 10 + randn(B, T, 8) * 0.01;
        var positions = tensor(new long[] { 1, 2 }).repeat(B, 1);               // [B,2]
        double Share(NegativeSampling sampler, double sigma = 1.96) =>
            MaskedEmbeddingPrediction.Loss(head, outputs, targets, positions, new MepOptions(sampler, K, sigma)).OwnVideoNegatives.item<float>();
        // Current-Sequence draws only from the own video; uniform over the minibatch draws its T−1 of B·T−1 candidates
        // in proportion (K of them: about K·3/63 own-video negatives per anchor, a share of 3/63 ≈ 0.048).
        Assert.Equal(1.0, Share(NegativeSampling.CurrentSequence), 6);
        Assert.InRange(Share(NegativeSampling.CurrentMinibatch), 0.0, 0.15);
        // CANS-Similar favours the nearest candidates, but its interval (mean ± 1.96 σ of the distances) drops near-copies
        // as outliers: none of the own video's clips is drawn. Without the interval (σ huge) all 3 are, for every anchor.
        Assert.Equal(0.0, Share(NegativeSampling.CansSimilar), 6);
        Assert.InRange(Share(NegativeSampling.CansSimilar, sigma: 1e6), 0.15, 3.0 / K + 1e-6);
    }

    [Fact]
    public void Detached_targets_pass_no_gradient_back_to_the_embeddings()
    {
        manual_seed(6);
        using var head = new MepHead("h", 8);
        var outputs = randn(2, 3, 8);
        var positions = tensor(new long[] { 1, 2 }).reshape(2, 1);
        foreach (bool detach in new[] { false, true })
        {
            var targets = randn(2, 3, 8).requires_grad_();
            var (loss, _) = MaskedEmbeddingPrediction.Loss(head, outputs, targets, positions,
                                                           new MepOptions(NegativeSampling.CurrentMinibatch, 3, 1.96, MepScore.Cosine, 0.1, DetachTargets: detach));
            loss.backward();
            if (detach) Assert.Null(targets.grad);
            else Assert.True(targets.grad!.abs().sum().item<float>() > 0);
        }
    }

    static Tensor Anchors(long B, long T) => arange(B * T, dtype: int64);

    [Theory]
    [InlineData(NegativeSampling.CansSimilar)]
    [InlineData(NegativeSampling.CansDissimilar)]
    [InlineData(NegativeSampling.CurrentSequence)]
    [InlineData(NegativeSampling.CurrentMinibatch)]
    public void Negatives_never_include_the_positive(NegativeSampling kind)
    {
        manual_seed(1);
        var x = randn(6, 5, 8);
        var anchors = Anchors(6, 5);
        for (int rep = 0; rep < 20; rep++)
        {
            var neg = NegativeSampler.Sample(kind, x, anchors, 4);
            Assert.Equal(new long[] { 30, 4 }, neg.shape);
            Assert.False((neg == anchors.unsqueeze(1)).any().item<bool>());
        }
    }

    [Fact]
    public void Current_sequence_stays_in_the_sequence_even_when_K_exceeds_its_length()
    {
        manual_seed(2);
        long B = 4, T = 5;
        var anchors = Anchors(B, T);
        var neg = NegativeSampler.Sample(NegativeSampling.CurrentSequence, randn(B, T, 8), anchors, 16); // T−1 = 4 < 16
        Assert.Equal(new long[] { B * T, 16 }, neg.shape);
        Assert.True((neg.div(T, rounding_mode: RoundingMode.floor) == anchors.div(T, rounding_mode: RoundingMode.floor).unsqueeze(1)).all().item<bool>());
        Assert.False((neg == anchors.unsqueeze(1)).any().item<bool>());
    }

    [Fact]
    public void Negatives_are_distinct_when_there_are_enough_candidates()
    {
        manual_seed(3);
        var neg = NegativeSampler.Sample(NegativeSampling.CurrentMinibatch, randn(4, 5, 8), Anchors(4, 5), 16);
        for (int r = 0; r < neg.shape[0]; r++)
            Assert.Equal(16, neg[r].unique().Item1.shape[0]);
    }

    /// <summary>Candidates on a line: candidate c sits at distance c from the anchor (index 0).</summary>
    static Tensor Line(int n) => zeros(1, n, 3).index_put_(arange(n, dtype: float32), TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Single(0));

    static double MeanSampledDistance(NegativeSampling kind, int reps = 300)
    {
        manual_seed(4);
        var x = Line(21);                        // distances 1..20 from the anchor, uniform spread
        var anchors = tensor(new long[] { 0 });
        double sum = 0;
        int n = 0;
        for (int r = 0; r < reps; r++)
        {
            var neg = NegativeSampler.Sample(kind, x, anchors, 4);
            sum += neg.to(float64).sum().item<double>();
            n += 4;
        }
        return sum / n;
    }

    [Fact]
    public void Cans_similar_prefers_near_candidates_and_dissimilar_far_ones()
    {
        double uniform = MeanSampledDistance(NegativeSampling.CurrentMinibatch);
        double similar = MeanSampledDistance(NegativeSampling.CansSimilar);
        double dissimilar = MeanSampledDistance(NegativeSampling.CansDissimilar);
        Assert.InRange(uniform, 9.5, 11.5);      // mean of 1..20 is 10.5
        Assert.True(similar < uniform - 1.5, $"similar {similar} vs uniform {uniform}");
        Assert.True(dissimilar > uniform + 1.5, $"dissimilar {dissimilar} vs uniform {uniform}");
    }

    [Fact]
    public void Cans_drops_outliers_outside_the_interval()
    {
        // 19 candidates near the anchor, one very far: its normalised distance is > mean + 1.96σ.
        var x = zeros(1, 21, 2);
        x[0, TensorIndex.Slice(1, 20), 0] = linspace(1, 2, 19);
        x[0, 20, 0] = tensor(100f);
        var anchors = tensor(new long[] { 0 });
        foreach (var kind in new[] { NegativeSampling.CansSimilar, NegativeSampling.CansDissimilar })
        {
            var w = NegativeSampler.Weights(kind, x, anchors);
            Assert.Equal(0f, w[0, 20].item<float>());
            Assert.Equal(0f, w[0, 0].item<float>());
            manual_seed(5);
            for (int r = 0; r < 50; r++)
                Assert.False((NegativeSampler.Sample(kind, x, anchors, 8) == 20).any().item<bool>());
        }
    }

    [Fact]
    public void Masking_picks_max_1_round_pT_distinct_steps_and_follows_80_10_10()
    {
        manual_seed(6);
        var opts = new MaskingOptions();
        Assert.Equal(2, opts.MaskCount(10));
        Assert.Equal(1, opts.MaskCount(4));
        Assert.Equal(1, opts.MaskCount(1));
        using var masker = new EmbeddingMasker("m", 16, opts);
        long B = 400, T = 10;
        var x = randn(B, T, 16) + 5;             // far from the mask vector (≈0) so replacements are recognisable
        var m = masker.Mask(x);
        Assert.Equal(new long[] { B, 2 }, m.Positions.shape);
        Assert.True((m.Positions.select(1, 0) != m.Positions.select(1, 1)).all().item<bool>());
        var changedRows = (m.Input - x).abs().sum(-1) > 0;                                 // [B,T]
        var isMasked = zeros(B, T, dtype: ScalarType.Bool).scatter(1, m.Positions, ones(B, 2, dtype: ScalarType.Bool));
        Assert.False((changedRows & ~isMasked).any().item<bool>());                       // unmasked steps untouched
        var picked = m.Input.gather(1, m.Positions.unsqueeze(-1).expand(B, 2, 16));
        var token = (picked - masker.MaskVector.detach()).abs().amax([-1]) < 1e-6;
        var same = (picked - x.gather(1, m.Positions.unsqueeze(-1).expand(B, 2, 16))).abs().amax([-1]) < 1e-6;
        double n = B * 2;
        double fToken = token.sum().item<long>() / n, fSame = same.sum().item<long>() / n, fRandom = 1 - fToken - fSame;
        Assert.InRange(fToken, 0.75, 0.85);
        Assert.InRange(fSame, 0.07, 0.13);
        Assert.InRange(fRandom, 0.07, 0.13);
    }

    [Fact]
    public void Cpp_labels_are_balanced_and_swaps_form_a_derangement()
    {
        manual_seed(7);
        foreach (var b in new[] { 2, 7, 8, 64 })
        {
            var p = CorrectPairPrediction.Pair(b, 0.5);
            var src = p.AudioSource.data<long>().ToArray();
            var lab = p.Labels.data<float>().ToArray();
            int expectedSwapped = CorrectPairPrediction.SwapCount(b, 0.5);
            Assert.Equal(Math.Max(2, (int)Math.Round(b / 2.0, MidpointRounding.AwayFromZero)), expectedSwapped);
            Assert.Equal(expectedSwapped, lab.Count(l => l == 0));
            Assert.Equal(Enumerable.Range(0, b).Select(i => (long)i), src.Order());       // a permutation
            for (int i = 0; i < b; i++)
                Assert.Equal(lab[i] == 1, src[i] == i);                                    // swapped ⇔ not own audio
        }
        Assert.Equal(0, CorrectPairPrediction.SwapCount(1, 0.5));
    }

    [Fact]
    public void Mep_gradients_reach_the_encoder_through_the_targets()
    {
        manual_seed(8);
        // A stand-in "CNN + projection" produces the targets; the contextual outputs come from elsewhere (detached),
        // so any gradient on the encoder comes through the positives and negatives.
        using var encoder = TorchSharp.torch.nn.Linear(6, 16);
        using var head = new MepHead("mep", 16);
        var x = encoder.call(randn(3, 5, 6));                  // [B,T,D] targets, not detached
        var outputs = randn(3, 5, 16);
        var positions = tensor(new long[] { 1, 3, 0, 2, 4, 4 }).reshape(3, 2);
        var (loss, _) = MaskedEmbeddingPrediction.Loss(head, outputs, x, positions, new MepOptions(NegativeSampling.CansSimilar, 4, 1.96));
        loss.backward();
        Assert.True(encoder.weight!.grad!.abs().sum().item<float>() > 0);
        Assert.True(head.parameters().All(p => p.grad is not null));
    }
}
