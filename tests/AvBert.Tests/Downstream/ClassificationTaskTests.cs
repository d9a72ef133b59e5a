using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream;

/// <summary>The task module's forward: the loss and train_top1 computed by hand from the logits it returns.</summary>
public class ClassificationTaskTests
{
    static ClassificationTask Task(TransferModel model, ClassificationLoss loss, int classes) =>
        new(model, new ClassificationObjective(loss, 0.1, classes), CPU);

    /// <summary>Rows [rows, C] of a logits tensor, in double.</summary>
    static double[][] Rows(Tensor logits)
    {
        var flat = logits.detach().to(float64).data<double>().ToArray();
        int c = (int)logits.shape[1];
        return Enumerable.Range(0, flat.Length / c).Select(r => flat[(r * c)..((r + 1) * c)]).ToArray();
    }

    static double CrossEntropy(double[][] rows, int[] targets) =>
        rows.Select((l, r) => Math.Log(l.Sum(Math.Exp)) - l[targets[r]]).Average();

    static double BinaryCrossEntropy(double[][] rows, int[][] labels) =>
        rows.SelectMany((l, r) => l.Select((x, c) =>
        {
            double p = 1 / (1 + Math.Exp(-x));
            return labels[r].Contains(c) ? -Math.Log(p) : -Math.Log(1 - p);
        })).Average();

    static double[] Softmax(double[] l) { var e = l.Select(Math.Exp).ToArray(); return e.Select(x => x / e.Sum()).ToArray(); }

    static int ArgMax(double[] p) => Array.IndexOf(p, p.Max());

    /// <summary>Each video's labels repeated for its clips (rows of a video are consecutive).</summary>
    static T[] PerClip<T>(T[] perVideo, int clips) => perVideo.SelectMany(l => Enumerable.Repeat(l, clips)).ToArray();

    /// <summary>The forward of a tiny model of <paramref name="kind"/> in eval mode (no dropout: the logits are the model's) on 2 videos × 3 clips.</summary>
    static (TransferModel Model, Tensor? Visual, Tensor? Audio, ClassificationOutput Output) Forward(DownstreamTask kind, ClassificationLoss loss, int[][] labels, int seed)
    {
        var model = TinyTransfer.Build(kind, TransferProtocol.Finetune, classes: 3, seed: seed);
        model.eval();
        var (v, a) = TinyTransfer.Inputs(batch: 2, clips: 3, seed: seed + 1);
        Tensor? visual = kind == DownstreamTask.Audio ? null : v, audio = kind == DownstreamTask.Visual ? null : a;
        return (model, visual, audio, Task(model, loss, 3).Forward(visual, audio, labels));
    }

    [Fact]
    public void The_loss_is_the_cross_entropy_of_every_clip_against_its_videos_label()
    {
        var (model, v, _, output) = Forward(DownstreamTask.Visual, ClassificationLoss.CrossEntropy, [[2], [0]], seed: 4);
        using var _ = model;

        Assert.Equal(["loss", "train_top1"], output.Parts.Keys);
        Assert.Equal(6, output.Rows);
        Assert.True(Assert.Single(output.Logits).allclose(model.Forward(v, null)[0]));
        var rows = Rows(output.Logits[0]);
        var targets = PerClip([2, 0], clips: 3);
        Assert.Equal(CrossEntropy(rows, targets), output.Loss.item<float>(), 5);
        Assert.Same(output.Loss, output.Parts["loss"]);
        double top1 = rows.Select((l, r) => ArgMax(l) == targets[r] ? 1.0 : 0.0).Average();
        Assert.Equal(top1, output.Parts["train_top1"].item<float>(), 6);
    }

    [Fact]
    public void With_two_heads_the_loss_is_the_sum_of_both_and_top1_reads_their_mean_probabilities()
    {
        var (model, _, _, output) = Forward(DownstreamTask.Audiovisual, ClassificationLoss.CrossEntropy, [[1], [2]], seed: 2);
        using var _ = model;

        // The order the logs show them in (the trainer puts "loss" first).
        Assert.Equal(["loss_clip", "loss_sequence", "loss", "train_top1"], output.Parts.Keys);
        Assert.Equal(2, output.Logits.Count);
        var targets = PerClip([1, 2], clips: 3);
        var (clipRows, sequenceRows) = (Rows(output.Logits[0]), Rows(output.Logits[1]));
        double clip = CrossEntropy(clipRows, targets), sequence = CrossEntropy(sequenceRows, targets);
        Assert.Equal(clip, output.Parts["loss_clip"].item<float>(), 5);
        Assert.Equal(sequence, output.Parts["loss_sequence"].item<float>(), 5);
        Assert.Equal(clip + sequence, output.Loss.item<float>(), 5);
        double top1 = targets.Select((t, r) => ArgMax(Softmax(clipRows[r]).Zip(Softmax(sequenceRows[r]), (p, q) => p + q).ToArray()) == t ? 1.0 : 0.0).Average();
        Assert.Equal(top1, output.Parts["train_top1"].item<float>(), 6);
    }

    [Fact]
    public void Multilabel_takes_binary_cross_entropy_per_class_and_counts_a_top_class_among_the_labels_as_right()
    {
        int[][] labels = [[0, 2], [1]];
        var (model, _, _, output) = Forward(DownstreamTask.Multilabel, ClassificationLoss.BinaryCrossEntropy, labels, seed: 3);
        using var _ = model;

        var perClip = PerClip(labels, clips: 3);
        var (clipRows, sequenceRows) = (Rows(output.Logits[0]), Rows(output.Logits[1]));
        Assert.Equal(BinaryCrossEntropy(clipRows, perClip) + BinaryCrossEntropy(sequenceRows, perClip), output.Loss.item<float>(), 5);
        static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
        double top1 = perClip.Select((l, r) => l.Contains(ArgMax(clipRows[r].Zip(sequenceRows[r], (x, y) => Sigmoid(x) + Sigmoid(y)).ToArray())) ? 1.0 : 0.0).Average();
        Assert.Equal(top1, output.Parts["train_top1"].item<float>(), 6);
    }

    [Fact]
    public void A_batch_and_its_test_probabilities_go_through_the_same_forward()
    {
        using var model = TinyTransfer.Build(DownstreamTask.Audiovisual, TransferProtocol.Finetune, classes: 3, seed: 7);
        model.eval();
        var (v, a) = TinyTransfer.Inputs(batch: 2, clips: 3, seed: 8);
        using var batch = new VideoBatch(v, a, [[0], [1]], ["a.mp4", "b.mp4"], [0, 1], [0, 1], [-1, -1]);
        var task = Task(model, ClassificationLoss.CrossEntropy, 3);

        var fromBatch = task.Forward(batch);
        var fromTensors = task.Forward(v, a, [[0], [1]]);
        Assert.Equal(fromTensors.Loss.item<float>(), fromBatch.Loss.item<float>());
        using var _ = no_grad();
        using var probabilities = task.Probabilities(batch);
        Assert.Equal(new long[] { 6, 3 }, probabilities.shape);
        Assert.True(probabilities.allclose(task.Objective.Probabilities(fromBatch.Logits)));
    }

    [Theory]
    [InlineData(TransferProtocol.Finetune, new[] { "head_decay", "head_no_decay", "backbone_decay", "backbone_no_decay" })]
    [InlineData(TransferProtocol.Linear, new[] { "head_decay", "head_no_decay" })]
    public void The_optimiser_trains_the_heads_and_the_backbone_only_when_it_is_not_frozen(TransferProtocol protocol, string[] groups)
    {
        using var model = TinyTransfer.Build(DownstreamTask.Visual, protocol, classes: 3);
        var d = new DownstreamConfig { Task = DownstreamTask.Visual, ClassNames = ["a", "b", "c"] };
        d = d.With(DownstreamTask.Visual, d.Current with { Protocol = protocol });
        var task = ClassificationTask.For(model, d, CPU);
        Assert.Equal(3, task.Objective.NumClasses);
        using var optimizer = task.CreateOptimizer(d);
        Assert.Equal(groups, optimizer.Groups.Select(g => g.Name));
        Assert.Equal(d.Current.HeadLr, optimizer.Groups[0].LearningRate);
    }
}
