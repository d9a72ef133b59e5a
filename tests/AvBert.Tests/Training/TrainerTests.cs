using AvBert.Config;
using AvBert.Runtime;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Training;

[Collection(TorchRngCollection.Name)]
public class TrainerTests
{
    internal static (TinyNet Net, TrainingOptimizer Opt) Build(int seed = 3)
    {
        manual_seed(seed);
        var net = new TinyNet();
        var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(net.named_parameters(), 1e-2, 1e-4), new AdamOptions());
        return (net, opt);
    }

    internal static TrainerOptions Options(long steps, int checkpointEvery = 0, int accumulation = 1) => new()
    {
        Steps = steps, Seed = 11, LogEvery = 1, CheckpointEvery = checkpointEvery, Accumulation = accumulation,
        Progress = ProgressMode.Off, ItemName = "rows", PlotCurves = true,
    };

    static readonly LrSchedule Schedule = new(LrScheduleKind.Linear, 2, 8);

    [Fact]
    public void Resume_gives_the_same_loss_sequence_as_an_uninterrupted_run()
    {
        // Uninterrupted: 8 steps, dropout on, schedule with warm-up.
        var full = new List<double>();
        var (net, opt) = Build();
        var runA = TestSetup.TempDir("train-full");
        new Trainer(net, opt, Schedule, Options(8), runA)
            .Run(s => TinyNet.Data(s), b => TinyNet.Step(net, b), onStep: (_, v) => full.Add(v["loss"]));

        // Interrupted after step 3 (cancellation writes a checkpoint), then resumed in a fresh process-like setup.
        var runB = TestSetup.TempDir("train-resume");
        var first = new List<double>();
        var (net1, opt1) = Build();
        using var cts = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() =>
            new Trainer(net1, opt1, Schedule, Options(8, checkpointEvery: 2), runB)
                .Run(s => TinyNet.Data(s), b => TinyNet.Step(net1, b), onStep: (s, v) => { first.Add(v["loss"]); if (s == 3) cts.Cancel(); }, ct: cts.Token));
        Assert.Equal(3, first.Count);

        var (net2, opt2) = Build(seed: 99); // different init: everything must come from the checkpoint
        var second = new List<double>();
        var result = new Trainer(net2, opt2, Schedule, Options(8, checkpointEvery: 2), runB)
            .Run(s => TinyNet.Data(s), b => TinyNet.Step(net2, b), resume: true, onStep: (_, v) => second.Add(v["loss"]));

        Assert.Equal(8, result.Step);
        Assert.Equal(full, first.Concat(second).ToList());
        // The logs read as one run: steps 1..8 once each.
        var logged = MetricsLog.Read(Path.Combine(runB, "metrics.jsonl")).Select(r => r.Step).ToList();
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), logged);
        Assert.True(File.Exists(Path.Combine(runB, "loss.png")));
        Assert.True(File.Exists(Path.Combine(runB, "metrics.csv")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(runB, "tb")));
    }

    [Fact]
    public void Gradient_accumulation_matches_one_large_batch()
    {
        // No dropout, plain mean loss: 2 micro-batches of 4 rows ≡ 1 batch of 8 rows.
        Tensor[] Weights(int accumulation)
        {
            manual_seed(5);
            var net = new TinyNet(dropout: 0);
            var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(net.named_parameters(), 1e-2, 1e-4), new AdamOptions());
            IEnumerable<(Tensor, Tensor)> Data(long start)
            {
                foreach (var (x, y) in TinyNet.Data(0, batch: 8))
                    if (accumulation == 1) yield return (x, y);
                    else { yield return (x[..4], y[..4]); yield return (x[4..], y[4..]); }
            }
            new Trainer(net, opt, LrSchedule.Constant, Options(3, accumulation: accumulation) with { GradClip = 0 }, null)
                .Run(Data, b => TinyNet.Step(net, b));
            return net.parameters().Select(p => p.detach().clone()).ToArray();
        }
        var one = Weights(1);
        var two = Weights(2);
        for (int i = 0; i < one.Length; i++) Assert.True(one[i].allclose(two[i], rtol: 1e-5, atol: 1e-6), $"parameter {i} differs");
    }

    [Fact]
    public void A_libtorch_error_on_weights_gone_non_finite_is_a_divergence_naming_the_weight()
    {
        var (net, opt) = Build();
        int calls = 0;
        var e = Assert.Throws<TrainingDiverged>(() => new Trainer(net, opt, Schedule, Options(8), null).Run(s => TinyNet.Data(s), b =>
        {
            if (++calls == 2)
            {
                // Between two log points the weights turn NaN, and an op refuses the NaN (as the matrix exponential's
                // scaling does in libtorch: "Expected false to be true ... toFloat").
                using (no_grad()) net.parameters().First().fill_(double.NaN);
                throw new System.Runtime.InteropServices.ExternalException("Expected false to be true, but got false.\nException raised from toFloat");
            }
            return TinyNet.Step(net, b);
        }));
        Assert.Equal(2, e.Step);
        Assert.Equal(net.named_parameters().First().name, e.Part);
        Assert.Contains("is NaN or Inf, and libtorch stopped on it (Expected false to be true, but got false.)", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // With finite weights the same libtorch error stays what it is (an internal error, retried where the caller retries).
        var (net2, opt2) = Build();
        Assert.Throws<System.Runtime.InteropServices.ExternalException>(() => new Trainer(net2, opt2, Schedule, Options(8), null).Run(s => TinyNet.Data(s), b =>
            throw new System.Runtime.InteropServices.ExternalException("Expected false to be true, but got false.")));
    }

    [Fact]
    public void Non_finite_loss_stops_the_run_naming_step_and_part()
    {
        var (net, opt) = Build();
        var before = net.parameters().Select(p => p.detach().clone()).ToArray();
        int calls = 0;
        var e = Assert.Throws<TrainingDiverged>(() => new Trainer(net, opt, Schedule, Options(8), null).Run(s => TinyNet.Data(s), b =>
        {
            var o = TinyNet.Step(net, b);
            if (++calls == 3) return o with { Parts = new Dictionary<string, Tensor>(o.Parts) { ["l1"] = o.Parts["l1"] * double.NaN } };
            return o;
        }));
        Assert.Equal(3, e.Step);
        Assert.Equal("l1", e.Part);
        Assert.Contains("step 3", e.Message);
        Assert.Contains("'l1' is NaN", e.Message);
        // The bad step did not update the weights: only two updates happened.
        Assert.Contains(net.parameters().Zip(before), pb => !pb.First.allclose(pb.Second, 0, 0));
    }

    /// <summary>Rank 1 of a job of 2, as the trainer sees it through its seam: counts the calls, and "averages" every
    /// logged value to 7.</summary>
    sealed class SecondRank : IStepSync
    {
        public int Starts, Steps, Checkpoints;
        public bool IsRoot => false;
        public int Rank => 1;
        public int Size => 2;
        public bool AgreesOnNativeErrors => true;
        public bool SavesOnCancel => false;
        public string DivergenceNote => "";
        public void Start(TorchSharp.torch.nn.Module model) => Starts++;
        public IDisposable? Watch(string what) => null;
        public Tensor AfterBackward(Tensor? values, Exception? nativeError, TrainingOptimizer optimizer, long step)
        {
            Steps++;
            return full_like(values!, 7.0);
        }
        public void BeforeCheckpoint(TorchSharp.torch.nn.Module model, IDictionary<string, string> extra) => Checkpoints++;
    }

    [Fact]
    public void A_rank_other_than_0_trains_through_the_sync_logs_its_averages_and_writes_nothing()
    {
        var (net, opt) = Build();
        var run = TestSetup.TempDir("train-rank1");
        var sync = new SecondRank();
        var logged = new List<double>();
        var result = new Trainer(net, opt, Schedule, Options(4, checkpointEvery: 2), run, sync)
            .Run(s => TinyNet.Data(s), b => TinyNet.Step(net, b), onStep: (_, v) => logged.Add(v["loss"]));

        Assert.Equal(4, result.Step);
        Assert.Equal((1, 4, 2), (sync.Starts, sync.Steps, sync.Checkpoints));   // broadcast once; every step; every checkpoint
        Assert.All(logged, v => Assert.Equal(7.0, v));                           // the values are the job's, not this rank's
        Assert.Null(result.LastCheckpoint);
        Assert.Empty(Directory.EnumerateFileSystemEntries(run).Where(e => !Path.GetFileName(e).StartsWith("checkpoints")));
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoints")) && Directory.EnumerateFileSystemEntries(Path.Combine(run, "checkpoints")).Any());
    }

    [Fact]
    public void What_the_after_step_hook_returns_goes_to_the_metrics_log()
    {
        var (net, opt) = Build();
        var run = TestSetup.TempDir("train-after-step");
        new Trainer(net, opt, Schedule, Options(4) with
        {
            AfterStep = step => step % 2 == 0 ? new StepNote(new Dictionary<string, double> { ["test_top1"] = step / 10.0 }, $"tested at {step}") : null,
        }, run).Run(s => TinyNet.Data(s), b => TinyNet.Step(net, b));

        var points = MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Where(r => r.Values.ContainsKey("test_top1")).ToList();
        Assert.Equal([2L, 4L], points.Select(p => p.Step));
        Assert.Equal([0.2, 0.4], points.Select(p => p.Values["test_top1"]));
    }

    [Fact]
    public void Weight_decay_skips_biases_and_norms()
    {
        manual_seed(1);
        var net = new TinyNet();
        var groups = TrainingOptimizer.DecayGroups(net.named_parameters(), lr: 0.1, weightDecay: 0.5);
        Assert.Equal(["fc1.weight", "fc2.weight"], groups[0].Parameters.Select(p => p.Name).Order().ToArray());
        Assert.Equal(["fc1.bias", "fc2.bias", "norm.bias", "norm.weight"], groups[1].Parameters.Select(p => p.Name).Order().ToArray());
        using var opt = TrainingOptimizer.Create(groups, new AdamOptions());
        var before = net.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        foreach (var p in net.parameters()) p.grad = zeros_like(p); // zero gradient: only decay can move a weight
        opt.Step();
        foreach (var (name, p) in net.named_parameters())
        {
            var expected = name.EndsWith("weight") && name.StartsWith("fc") ? before[name] * (1 - 0.1 * 0.5) : before[name];
            Assert.True(p.detach().allclose(expected, rtol: 1e-6, atol: 1e-7), name);
        }
    }

    [Theory]
    [InlineData(LrScheduleKind.Linear, 0, 0.25)]
    [InlineData(LrScheduleKind.Linear, 3, 1.0)]
    [InlineData(LrScheduleKind.Linear, 8, 0.55)]
    [InlineData(LrScheduleKind.Linear, 12, 0.1)]
    [InlineData(LrScheduleKind.Linear, 13, 0.1)]
    [InlineData(LrScheduleKind.Cosine, 8, 0.55)]
    [InlineData(LrScheduleKind.Cosine, 13, 0.1)]
    [InlineData(LrScheduleKind.Constant, 100, 1.0)]
    public void Schedule_warms_up_then_decays(LrScheduleKind kind, long step, double expected)
    {
        // warm-up 4 steps (factors 0.25, 0.5, 0.75, 1), then decay over 8 steps to 0.1 at step 12.
        var s = new LrSchedule(kind, 4, 12, MinFactor: 0.1);
        Assert.Equal(expected, s.Factor(step), 9);
        if (kind == LrScheduleKind.Linear) Assert.Equal(0.55, s.Factor(8), 9);
    }

    [Fact]
    public void Learning_rate_follows_the_schedule_per_group()
    {
        var net = new TinyNet();
        using var opt = TrainingOptimizer.Create(
            [new ParamGroupSpec("backbone", net.named_parameters().Where(p => p.name.StartsWith("fc1")).ToList(), 1e-4, 0),
             new ParamGroupSpec("head", net.named_parameters().Where(p => !p.name.StartsWith("fc1")).ToList(), 3e-2, 0)],
            new AdamOptions { Kind = OptimizerKind.Adam, Eps = 1e-6, AmsGrad = false });
        opt.SetLearningRateFactor(0.5);
        Assert.Equal([5e-5, 1.5e-2], opt.LearningRates);
    }
}

public class LrReplanTests
{
    [Fact]
    public void A_trainer_resumed_with_more_steps_continues_the_learning_rate_where_it_was()
    {
        var run = TestSetup.TempDir("train-replan");
        manual_seed(3);
        var net = new TinyNet();
        var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(net.named_parameters(), 1e-2, 1e-4), new AdamOptions());
        TrainerOptions Options(long steps) => new() { Steps = steps, Seed = 11, CheckpointEvery = 2, Progress = ProgressMode.Off, PlotCurves = false, TensorBoard = false };
        using var cts = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() =>
            new Trainer(net, opt, new LrSchedule(LrScheduleKind.Cosine, 1, 8), Options(8), run)
                .Run(s => TinyNet.Data(s), b => TinyNet.Step(net, b), onStep: (s, _) => { if (s == 4) cts.Cancel(); }, ct: cts.Token));

        var lrs = new List<double>();
        var notes = new StringWriter();
        new Trainer(net, opt, new LrSchedule(LrScheduleKind.Cosine, 1, 16), Options(16) with { Warnings = notes }, run)
            .Run(s => TinyNet.Data(s), b => TinyNet.Step(net, b), resume: true, onStep: (_, v) => lrs.Add(v["lr"]));
        Assert.Equal(12, lrs.Count);
        Assert.Equal(1e-2 * new LrSchedule(LrScheduleKind.Cosine, 1, 8).Factor(4), lrs[0], 12);   // no jump to the 16-step curve
        Assert.All(lrs.Zip(lrs.Skip(1)), p => Assert.True(p.Second < p.First));   // then decays smoothly to the new end
        Assert.True(lrs[^1] < lrs[0] / 20);
        Assert.Contains("step 8, now 16", notes.ToString());
    }

    [Theory]
    [InlineData(LrScheduleKind.Cosine)]
    [InlineData(LrScheduleKind.Linear)]
    public void Resuming_with_more_steps_continues_the_learning_rate_without_a_jump(LrScheduleKind kind)
    {
        var original = new LrSchedule(kind, 10, 100);
        var extended = new LrSchedule(kind, 10, 200).Resumed(60, [new LrReplan(0, 100)], out bool replanned);
        Assert.True(replanned);
        for (long s = 0; s <= 60; s++) Assert.Equal(original.Factor(s), extended.Factor(s), 12);   // the past is unchanged
        Assert.True(extended.Factor(61) <= extended.Factor(60) && extended.Factor(60) - extended.Factor(61) < 0.02);
        Assert.Equal(0, extended.Factor(200), 12);
        // A later resume of the same run follows the same two-part schedule.
        var again = new LrSchedule(kind, 10, 200).Resumed(120, extended.Replans, out bool again2);
        Assert.False(again2);
        Assert.Equal(extended.Factor(150), again.Factor(150), 12);
        // Without a saved record (older checkpoints) the schedule is what the config says.
        Assert.Equal(new LrSchedule(kind, 10, 200).Factor(61), new LrSchedule(kind, 10, 200).Resumed(60, null, out _).Factor(61), 12);
    }
}
