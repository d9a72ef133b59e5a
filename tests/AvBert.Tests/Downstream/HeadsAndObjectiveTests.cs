using AvBert.Config;
using AvBert.Downstream;
using AvBert.Downstream.Heads;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream;

public class HeadsAndObjectiveTests
{
    [Fact]
    public void Sequence_pairs_join_the_bos_output_with_each_clip()
    {
        using var seq = arange(12, dtype: float32).reshape(2, 3, 2);   // B=2, T+1=3, D=2
        using var pairs = SequenceHead.Pairs(seq);
        Assert.Equal(new long[] { 4, 4 }, pairs.shape);
        Assert.Equal(new float[] { 0, 1, 2, 3, 0, 1, 4, 5, 6, 7, 8, 9, 6, 7, 10, 11 }, pairs.data<float>().ToArray());
    }

    [Fact]
    public void Heads_start_with_small_weights_and_zero_bias()
    {
        manual_seed(1);
        var head = new ClassifierHead(new HeadOptions(512, 64, InitStd: 0.01));
        var sd = head.state_dict();
        Assert.Equal(0.01, sd["projection.weight"].std().item<float>(), 3);
        Assert.Equal(0f, sd["projection.bias"].abs().max().item<float>());
        var seqHead = new SequenceHead(new HeadOptions(8, 5));
        Assert.Equal(["audio_fc.weight", "norm.bias", "norm.weight", "projection.bias", "projection.weight", "visual_fc.weight"],
            seqHead.state_dict().Keys.Order());
        seqHead.eval();
        using var logits = seqHead.call(randn(3, 16), randn(3, 16));
        Assert.Equal(new long[] { 3, 5 }, logits.shape);
    }

    [Fact]
    public void Multi_margin_loss_matches_the_hand_value()
    {
        var o = new ClassificationObjective(ClassificationLoss.MultiMargin, 0.1, 3);
        using var logits = tensor(new float[] { 0.5f, 0.2f, 0.1f, 0.5f, 0.2f, 0.1f }, [2, 3]);
        // row 0, target 0: all margins satisfied → 0. Row 1, target 2: (0.1 − 0.1 + 0.5) + (0.1 − 0.1 + 0.2) = 0.7, / 3 classes.
        using var targets = o.Targets([[0], [2]], 1, CPU);
        using var loss = o.Compute(logits, targets);
        Assert.Equal((0 + 0.7 / 3) / 2, loss.item<float>(), 5);
    }

    [Fact]
    public void Targets_repeat_per_clip_and_multi_hot_for_multilabel()
    {
        var single = new ClassificationObjective(ClassificationLoss.CrossEntropy, 0.1, 4);
        Assert.Equal(new long[] { 3, 3, 1, 1 }, single.Targets([[3], [1]], 2, CPU).data<long>().ToArray());
        Assert.Throws<ArgumentException>(() => single.Targets([[3, 1]], 1, CPU));
        var multi = new ClassificationObjective(ClassificationLoss.BinaryCrossEntropy, 0.1, 3);
        Assert.Equal(new float[] { 1, 0, 1, 0, 0, 0 }, multi.Targets([[0, 2], []], 1, CPU).data<float>().ToArray());
    }

    [Fact]
    public void Probabilities_average_the_heads()
    {
        var o = new ClassificationObjective(ClassificationLoss.CrossEntropy, 0.1, 2);
        using var a = tensor(new float[] { 0f, 0f }, [1, 2]);                 // softmax 0.5 / 0.5
        using var b = tensor(new float[] { 0f, MathF.Log(3f) }, [1, 2]);      // softmax 0.25 / 0.75
        using var p = o.Probabilities([a, b]);
        Assert.Equal(new float[] { 0.375f, 0.625f }, p.data<float>().ToArray().Select(x => MathF.Round(x, 5)).ToArray());
    }
}
