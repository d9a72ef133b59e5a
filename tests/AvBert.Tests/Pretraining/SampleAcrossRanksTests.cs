using AvBert.Config;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Tests.Model;
using AvBert.Tests.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Pretraining;

/// <summary>
/// pretrain.sample_across_ranks: two ranks on two threads of this process (<see cref="TwoRanks"/>) draw MEP negatives
/// and CPP partners from the global batch and compute what one process computes on the whole batch — the mean of the
/// ranks' losses is its loss, and each rank's gradients (averaged over the ranks, as data parallelism does) are its
/// gradients. (mpirun end to end: DataParallelJobTests.)
/// </summary>
[Collection(TorchRngCollection.Name)]
public class SampleAcrossRanksTests
{
    static void AssertClose(Tensor expected, Tensor actual, string what, double tolerance = 1e-5)
    {
        double scale = Math.Max(expected.abs().max().item<float>(), 1e-6);
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff <= tolerance * scale, $"{what}: max|diff| {diff:g3} vs max|value| {scale:g3}");
    }

    static Tensor Leaf(Tensor t) => t.detach().clone().requires_grad_();

    [Fact]
    public void The_gather_gives_every_rank_the_global_batch_and_each_rank_the_summed_gradient_of_its_own_rows()
    {
        var x = randn([4, 3], generator: new Generator(1));
        var w = randn([2, 4, 3], generator: new Generator(2));   // each rank's loss weights on the gathered batch
        var world = new TwoRanks();
        var results = TwoRanks.Run(r =>
        {
            var mine = Leaf(x.narrow(0, 2 * r, 2));
            var all = RankGather.AllGather(world.Rank(r), mine);
            (all * w[r]).sum().backward();
            var shared = RankGather.FromRoot(world.Rank(r), tensor(new long[] { 10 + r, 20 + r }));
            return (All: all.detach(), Grad: mine.grad!, Shared: shared);
        });
        foreach (var (res, r) in results.Select((v, i) => (v, i)))
        {
            Assert.True(res.All.eq(x).all().item<bool>(), $"rank {r}: the gathered batch is not both ranks' rows in rank order");
            AssertClose((w[0] + w[1]).narrow(0, 2 * r, 2), res.Grad, $"rank {r}'s gradient");
            Assert.Equal([10L, 20L], res.Shared.data<long>().ToArray());
            Assert.Equal(ScalarType.Int64, res.Shared.dtype);
        }
    }

    public static TheoryData<MepScore, bool> Scores => new() { { MepScore.Dot, false }, { MepScore.Cosine, true } };

    /// <summary>
    /// MEP with every other embedding of the batch as a negative (K = B·T − 1, so no draw decides anything): two ranks on
    /// half batches give one process's loss on the whole batch and its gradients — for the head (mean over the ranks)
    /// and, for the Transformer outputs and the targets, through the gather back to the rank that owns them (× ranks,
    /// which the ranks' gradient average divides again). Without the gather each rank's negatives would be its own 5.
    /// </summary>
    [Theory]
    [MemberData(nameof(Scores))]
    public void Mep_on_two_ranks_is_one_process_on_the_whole_batch(MepScore score, bool detach)
    {
        const int B = 4, T = 3, D = 8;
        var g = new Generator(5);
        var outputs = randn([B, T, D], generator: g);
        var targets = randn([B, T, D], generator: g);
        var positions = tensor(new long[] { 0, 2, 1, 1 }).reshape(B, 1);
        var options = new MepOptions(NegativeSampling.CurrentMinibatch, B * T - 1, 1.96, score, 0.2, detach);
        manual_seed(7);
        var heads = Enumerable.Range(0, 3).Select(i => new MepHead("head", D)).ToArray();
        foreach (var h in heads.Skip(1)) h.load_state_dict(heads[0].state_dict());

        var (o, x) = (Leaf(outputs), Leaf(targets));
        var one = MaskedEmbeddingPrediction.Loss(heads[0], o, x, positions, options);
        one.Loss.backward();

        var world = new TwoRanks();
        var ranks = TwoRanks.Run(r =>
        {
            var (or, xr) = (Leaf(outputs.narrow(0, 2 * r, 2)), Leaf(targets.narrow(0, 2 * r, 2)));
            var res = MaskedEmbeddingPrediction.Loss(heads[1 + r], or, xr, positions.narrow(0, 2 * r, 2), options, CandidatePool.Gather(world.Rank(r), xr));
            res.Loss.backward();
            return (Loss: res.Loss.detach(), Own: res.OwnVideoNegatives, OutGrad: or.grad!, TargetGrad: xr.grad);
        });

        AssertClose(one.Loss.detach(), (ranks[0].Loss + ranks[1].Loss) / 2, "loss");
        AssertClose(one.OwnVideoNegatives, (ranks[0].Own + ranks[1].Own) / 2, "share of own-video negatives");
        Assert.Equal(2.0 / 11, one.OwnVideoNegatives.item<float>(), 5);   // T−1 of the B·T−1 others
        for (int r = 0; r < 2; r++)
        {
            AssertClose(o.grad!.narrow(0, 2 * r, 2) * 2, ranks[r].OutGrad, $"rank {r}: gradient of the Transformer outputs");
            if (detach) Assert.Null(ranks[r].TargetGrad);
            else AssertClose(x.grad!.narrow(0, 2 * r, 2) * 2, ranks[r].TargetGrad!, $"rank {r}: gradient of the targets");
        }
        foreach (var ((name, p1), (_, pa), (_, pb)) in heads[0].named_parameters().Zip(heads[1].named_parameters(), heads[2].named_parameters()))
            AssertClose(p1.grad!, (pa.grad! + pb.grad!) / 2, $"head {name}");
    }

    /// <summary>CPP's balanced loss over the global batch: the positives' and negatives' counts are the global batch's, and
    /// the ranks' mean loss and averaged gradients are one process's.</summary>
    [Fact]
    public void The_balanced_cpp_loss_on_two_ranks_is_one_process_on_the_whole_batch()
    {
        var logits = randn([6], generator: new Generator(3));
        var labels = tensor(new float[] { 1, 1, 1, 0, 1, 0 });   // rank 0 holds 3 positives, rank 1 one
        var all = Leaf(logits);
        var one = CorrectPairPrediction.BalancedLoss(all, labels);
        one.backward();
        var world = new TwoRanks();
        var ranks = TwoRanks.Run(r =>
        {
            var mine = Leaf(logits.narrow(0, 3 * r, 3));
            var loss = CorrectPairPrediction.BalancedLoss(mine, labels.narrow(0, 3 * r, 3), world.Rank(r));
            loss.backward();
            return (Loss: loss.detach(), Grad: mine.grad!);
        });
        AssertClose(one.detach(), (ranks[0].Loss + ranks[1].Loss) / 2, "loss");
        for (int r = 0; r < 2; r++) AssertClose(all.grad!.narrow(0, 3 * r, 3) * 2, ranks[r].Grad, $"rank {r}: gradient");
    }

    [Fact]
    public void A_ranks_extra_pairs_are_its_rows_of_the_global_batchs()
    {
        var source = tensor(new long[] { 0, 3, 2, 5, 4, 1 });  // videos 1, 3 and 5 swapped in a cycle
        var (allPos, allLabels) = CorrectPairPrediction.ExtraPairs(source, 2);
        var (pos, labels) = CorrectPairPrediction.ExtraPairs(source, 2, first: 3, count: 3);
        var rows = tensor(new long[] { 3, 4, 5, 9, 10, 11 });    // rounds 1 and 2 of videos 3..5, round-major
        Assert.True(allPos.index_select(0, rows).eq(pos).all().item<bool>());
        Assert.True(allLabels.index_select(0, rows).eq(labels).all().item<bool>());
        Assert.Equal(new long[] { 2, 3, 4, 1, 2, 3 }, pos.data<long>().ToArray());
    }

    /// <summary>The whole objective on two ranks (CANS, CPP with extra pairs across the global batch): both make the same
    /// collectives in the same order (no rank left waiting), the losses are finite, and every parameter gets a gradient.</summary>
    [Fact]
    public void The_pretrainer_on_two_ranks_makes_the_same_collectives_and_trains_every_parameter()
    {
        var c = PretrainerTests.Tiny("pretrain.cpp_extra_pairs=2", "pretrain.sampler=cans_similar");
        manual_seed(4);
        var pretrainers = Enumerable.Range(0, 2).Select(_ => new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain)).ToArray();
        pretrainers[1].load_state_dict(pretrainers[0].state_dict());
        var d = c.Data;
        var v = randn([4, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize], generator: new Generator(8));
        var a = randn([4, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime], generator: new Generator(9));
        var world = new TwoRanks();
        var results = TwoRanks.Run(r =>
        {
            var p = pretrainers[r];
            p.Ranks = world.Rank(r);
            var l = p.forward(v.narrow(0, 2 * r, 2), a.narrow(0, 2 * r, 2));
            l.Total.backward();
            var untouched = p.named_parameters().Where(np => np.parameter.grad is null).Select(np => np.name).ToList();
            return (Total: l.Total.item<float>(), Untouched: untouched);
        });
        foreach (var res in results)
        {
            Assert.True(float.IsFinite(res.Total));
            Assert.Empty(res.Untouched);
        }
        Assert.True(world.Calls > 10, $"only {world.Calls} all-reduces: the ranks did not gather");
    }

    [Fact]
    public void Ranks_with_batches_of_different_sizes_stop_with_a_message_on_every_rank()
    {
        var c = PretrainerTests.Tiny();
        var d = c.Data;
        var world = new TwoRanks();
        var errors = TwoRanks.Run(r =>
        {
            var p = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain) { Ranks = world.Rank(r) };
            int n = 2 + r;
            var e = Assert.Throws<UserError>(() => p.forward(randn([n, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize]),
                                                             randn([n, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime])));
            return e.Message;
        });
        Assert.All(errors, m => Assert.Contains("pretrain.sample_across_ranks: the ranks hold batches of different sizes (5 videos over 2 ranks", m));
    }
}
