using AvBert.Config;
using AvBert.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>
/// train.sync_batchnorm: two ranks on two threads of this process (<see cref="TwoRanks"/>: a world whose all-reduce
/// adds the two ranks' tensors) on half batches must give the outputs, the gradients (averaged over the ranks, as data
/// parallelism does) and the running statistics of one BatchNorm on the whole batch; without a group, or in eval mode,
/// the module is TorchSharp's BatchNorm.
/// </summary>
[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public class SyncBatchNormTests
{
    /// <summary>Fails on any collective: a layer that must not communicate.</summary>
    sealed class NoCollectives : IRankSum
    {
        public void AllReduceSum(Tensor t, string what) => throw new InvalidOperationException(what);
    }

    static T[] OnTwoRanks<T>(Func<int, T> body) => TwoRanks.Run(body);

    static void AssertClose(Tensor expected, Tensor actual, double tolerance, string what)
    {
        double scale = Math.Max(expected.abs().max().item<float>(), 1e-6);
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff <= tolerance * scale, $"{what}: max|diff| {diff:g3} vs max|value| {scale:g3}");
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    static void Randomise(TorchSharp.Modules.BatchNorm bn, long seed)
    {
        var g = new Generator((ulong)seed);
        using var _ = no_grad();
        bn.weight!.copy_(rand([bn.weight.shape[0]], generator: g) + 0.5);
        bn.bias!.copy_(randn([bn.bias!.shape[0]], generator: g));
        bn.running_mean!.copy_(randn([bn.running_mean.shape[0]], generator: g));
        bn.running_var!.copy_(rand([bn.running_var!.shape[0]], generator: g) + 0.5);
    }

    sealed record Outcome(Tensor Y, Tensor InputGrad, Tensor WeightGrad, Tensor BiasGrad, Tensor RunningMean, Tensor RunningVar, long Tracked);

    /// <summary>One train-mode forward/backward of <paramref name="bn"/> on <paramref name="x"/>; the loss is Σ(y·probe) / batch.</summary>
    static Outcome Step(TorchSharp.Modules.BatchNorm bn, Tensor x, Tensor probe)
    {
        bn.train();
        var input = x.clone().requires_grad_();
        var y = bn.call(input);
        ((y * probe).sum() / x.shape[0]).backward();
        return new Outcome(y.detach(), input.grad!, bn.weight!.grad!, bn.bias!.grad!, bn.running_mean!.clone(), bn.running_var!.clone(),
                           bn.num_batches_tracked!.item<long>());
    }

    public static TheoryData<int, bool> Layouts => new() { { 4, false }, { 5, false }, { 4, true }, { 5, true } };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Two_ranks_on_half_batches_normalise_like_one_batchnorm_on_the_whole_batch(int dims, bool channelsLast)
    {
        const int C = 3;
        long[] shape = dims == 4 ? [4, C, 5, 6] : [4, C, 3, 4, 5];
        var g = new Generator(11);
        // A mean far from 0 beside a small spread (a stem on plain-colour frames): Σx² − N·mean² would lose the variance.
        var x = randn(shape, generator: g) * 0.1 + 5;
        if (channelsLast) x = dims == 4 ? x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : ChannelsLast.Of3d(x);
        var probe = randn(shape, generator: g);
        TorchSharp.Modules.BatchNorm Plain() => dims == 4 ? nn.BatchNorm2d(C, momentum: 0.3) : nn.BatchNorm3d(C, momentum: 0.3);
        SyncBatchNorm Sync() => dims == 4 ? new SyncBatchNorm2d(C, momentum: 0.3) : new SyncBatchNorm3d(C, momentum: 0.3);

        var reference = Plain();
        Randomise(reference, 3);
        var whole = Step(reference, x, probe);

        var world = new TwoRanks();
        var ranks = OnTwoRanks(r =>
        {
            var bn = Sync();
            Randomise(bn, 3);
            bn.Group = world.Rank(r);
            return Step(bn, x.narrow(0, 2 * r, 2), probe.narrow(0, 2 * r, 2));
        });
        Assert.Equal(4, world.Calls);   // two all-reduces in forward (mean, variance), two in backward

        AssertClose(whole.Y, cat([ranks[0].Y, ranks[1].Y]), 1e-5, "output");
        // Each rank's loss is its half's mean: the one-process loss is their mean, so each input's gradient is twice
        // the one-process gradient and the parameters' gradients averaged over the ranks are the one-process ones.
        AssertClose(whole.InputGrad * 2, cat([ranks[0].InputGrad, ranks[1].InputGrad]), 1e-4, "input gradient");
        AssertClose(whole.WeightGrad, (ranks[0].WeightGrad + ranks[1].WeightGrad) / 2, 1e-4, "weight gradient");
        AssertClose(whole.BiasGrad, (ranks[0].BiasGrad + ranks[1].BiasGrad) / 2, 1e-5, "bias gradient");
        foreach (var rank in ranks)
        {
            AssertClose(whole.RunningMean, rank.RunningMean, 1e-5, "running mean");
            AssertClose(whole.RunningVar, rank.RunningVar, 1e-5, "running variance (unbiased, of the global batch)");
            Assert.Equal(1, rank.Tracked);
        }

        // Without the group each rank has its half's statistics: different (the comparison above can fail).
        var alone = Sync();
        Randomise(alone, 3);
        var half = Step(alone, x.narrow(0, 0, 2), probe.narrow(0, 0, 2));
        Assert.False(half.RunningMean.allclose(whole.RunningMean, 1e-3, 1e-3));
    }

    [Fact]
    public void Without_a_group_or_in_eval_mode_it_is_torchsharps_batchnorm()
    {
        var plain = nn.BatchNorm3d(4, 1e-5, 0.2);
        var sync = new SyncBatchNorm3d(4, 1e-5, 0.2);
        Randomise(plain, 5);
        Randomise(sync, 5);
        Assert.Equal(plain.state_dict().Keys, sync.state_dict().Keys);
        Assert.Equal(plain.named_parameters().Select(p => p.name), sync.named_parameters().Select(p => p.name));

        var x = randn([2, 4, 3, 4, 4], generator: new Generator(2));
        var probe = randn(x.shape, generator: new Generator(3));
        var a = Step(plain, x, probe);
        var b = Step(sync, x, probe);
        Assert.True(Same(a.Y, b.Y) && Same(a.InputGrad, b.InputGrad) && Same(a.WeightGrad, b.WeightGrad));
        Assert.True(Same(a.RunningMean, b.RunningMean) && Same(a.RunningVar, b.RunningVar) && a.Tracked == b.Tracked);

        // Eval mode uses the running statistics and never communicates, group or not.
        sync.Group = new NoCollectives();
        plain.eval();
        sync.eval();
        using (no_grad()) Assert.True(Same(plain.call(x), sync.call(x)));

        // Weights are interchangeable both ways.
        var loaded = new SyncBatchNorm3d(4);
        loaded.load_state_dict(plain.state_dict());
        Assert.True(Same(loaded.running_var!, plain.running_var!) && Same(loaded.weight!, plain.weight!));
    }

    [Theory]
    [InlineData(CnnCheckpoint.None)]
    [InlineData(CnnCheckpoint.Blocks)]
    public void Two_ranks_train_a_cnn_like_one_process_on_the_whole_batch(CnnCheckpoint checkpoint)
    {
        // The tiny visual CNN: BatchNorm everywhere, no dropout. The loss is the mean over the batch of Σ(feature · probe).
        var config = TinyModels.Model().Visual;
        var x = randn([4, 3, 4, 16, 16], generator: new Generator(7));
        VisualResNet3D Cnn()
        {
            manual_seed(21);
            var cnn = new VisualResNet3D(config) { Checkpoint = checkpoint };
            using var _ = no_grad();
            // The CPU convolution self-check settles on this thread, for both batch sizes, before the ranks start.
            cnn.eval();
            cnn.call(x);
            cnn.call(x.narrow(0, 0, 2));
            cnn.train();
            return cnn;
        }
        (Dictionary<string, Tensor> Grads, Dictionary<string, Tensor> Buffers) Train(VisualResNet3D cnn, Tensor input, Tensor probe)
        {
            var features = cnn.call(input);
            ((features * probe).sum() / input.shape[0]).backward();
            return (cnn.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone()),
                    cnn.named_buffers().ToDictionary(b => b.name, b => b.buffer.clone()));
        }

        var reference = Cnn();
        var probe = randn([4, reference.OutputChannels], generator: new Generator(8));
        var whole = Train(reference, x, probe);
        var cnns = new[] { Cnn(), Cnn() };
        var world = new TwoRanks();
        for (int r = 0; r < 2; r++) SyncBatchNorm.Apply(cnns[r], world.Rank(r));
        var ranks = OnTwoRanks(r => Train(cnns[r], x.narrow(0, 2 * r, 2), probe.narrow(0, 2 * r, 2)));

        foreach (var (name, g) in whole.Grads)
            AssertClose(g, (ranks[0].Grads[name] + ranks[1].Grads[name]) / 2, 1e-3, $"gradient of {name}");
        Assert.Contains(whole.Buffers.Keys, k => k.EndsWith("running_var"));
        foreach (var (name, b) in whole.Buffers)
            foreach (var rank in ranks)
                if (b.is_floating_point()) AssertClose(b, rank.Buffers[name], 1e-4, $"buffer {name}");
                else Assert.True(Same(b, rank.Buffers[name]), $"buffer {name}: counted more than once (checkpoint recomputation?)");
    }
}
