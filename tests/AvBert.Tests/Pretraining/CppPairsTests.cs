using AvBert.Config;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Tests.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Pretraining;

/// <summary>pretrain.cpp_extra_pairs and pretrain.cpp_masked.</summary>
[Collection(TorchRngCollection.Name)]
public class CppPairsTests
{
    [Fact]
    public void Extra_pairs_are_correct_only_where_the_swap_moved_a_videos_own_audio_there()
    {
        // Videos 1 and 2 traded audio; 0 and 3 kept theirs.
        var source = tensor(new long[] { 0, 2, 1, 3 });
        var (positions, labels) = CorrectPairPrediction.ExtraPairs(source, extra: 10);   // capped at B − 1 = 3 rounds
        Assert.Equal(new long[] { 3, 0, 1, 2, /* r=2 */ 2, 3, 0, 1, /* r=3 */ 1, 2, 3, 0 }, positions.data<long>().ToArray());
        // Round 1: video 2 gets the audio at position 1, which is video 2's own; round 3: video 1 gets position 2's (its own).
        Assert.Equal(new float[] { 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0 }, labels.data<float>().ToArray());
        var (none, _) = CorrectPairPrediction.ExtraPairs(arange(1L), extra: 4);
        Assert.Equal(0, none.shape[0]);
    }

    [Fact]
    public void Balanced_loss_weighs_positives_and_negatives_half_each()
    {
        var logits = tensor(new float[] { 0.3f, -1.2f, 2.0f, 0.1f, -0.4f });
        var labels = tensor(new float[] { 1, 0, 0, 1, 0 });
        static double Bce(double z, double y) => -(y * Math.Log(1 / (1 + Math.Exp(-z))) + (1 - y) * Math.Log(1 - 1 / (1 + Math.Exp(-z))));
        double expected = 0.5 * (Bce(0.3, 1) + Bce(0.1, 1)) / 2 + 0.5 * (Bce(-1.2, 0) + Bce(2.0, 0) + Bce(-0.4, 0)) / 3;
        Assert.Equal(expected, CorrectPairPrediction.BalancedLoss(logits, labels).item<float>(), 5);
    }

    static AvBertPretrainer Make(int seed, params string[] sets)
    {
        manual_seed(seed);
        var c = PretrainerTests.Tiny(sets);
        var p = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain);
        p.eval();   // no dropout: the same inputs give the same outputs
        return p;
    }

    static (Tensor V, Tensor A) Inputs(int seed, int batch)
    {
        manual_seed(seed);
        var d = PretrainerTests.Tiny().Data;
        return (randn([batch, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize]),
                randn([batch, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cpp_reads_the_unmasked_pass_unless_cpp_masked(bool masked)
    {
        // Two models with the same weights and the same pairing draw, masking little or much: with cpp_masked false the
        // CPP loss does not depend on the masks.
        var (v, a) = Inputs(3, 6);
        double LossCpp(double maskProb)
        {
            using var p = Make(1, $"pretrain.cpp_masked={masked.ToString().ToLowerInvariant()}", $"pretrain.mask_prob={maskProb}");
            manual_seed(5);
            using var _ = no_grad();
            return p.forward(v, a).Parts["loss_cpp"].item<float>();
        }
        double few = LossCpp(0.3), many = LossCpp(1.0);
        if (masked) Assert.True(Math.Abs(few - many) > 1e-4, $"{few} vs {many}");
        else Assert.Equal(few, many, 6);
    }

    [Fact]
    public void Extra_pairs_score_every_video_against_every_other_audio_in_the_batch()
    {
        // With cpp_extra_pairs ≥ B−1 and the unmasked pass, L_CPP is the balanced BCE over all B×B pairs of the batch.
        const int B = 5;
        var (v, a) = Inputs(4, B);
        using var p = Make(2, "pretrain.cpp_masked=false", "pretrain.cpp_extra_pairs=9", "pretrain.cpp_pooling=clips");
        manual_seed(6);
        var source = CorrectPairPrediction.Pair(B, 0.5).AudioSource;     // the draw forward will make
        manual_seed(6);
        using var _ = no_grad();
        double loss = p.forward(v, a).Parts["loss_cpp"].item<float>();

        var model = p.Model;
        var xv = model.EncodeVisual(v);
        var xa = model.EncodeAudio(a).index_select(0, source);             // the batch's audio after the swap
        var vi = arange(B).repeat_interleave(B);                           // every video with every audio position
        var ai = arange(B).repeat(B);
        var ctx = model.Contextualize(xv.index_select(0, vi), xa.index_select(0, ai));
        var (hv, ha) = AvBertPretrainer.CppInputs(ctx, CppPooling.Clips);
        var labels = (source.index_select(0, ai) == vi).to(float32);
        Assert.Equal(B, (int)labels.sum().item<float>());
        double expected = CorrectPairPrediction.BalancedLoss(p.CppHead!.call(hv, ha), labels).item<float>();
        Assert.Equal(expected, loss, 4);
    }
}
