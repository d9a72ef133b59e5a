using System.Text.Json;
using AvBert.Config;
using AvBert.Runtime;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Training;

/// <summary>
/// fp16's dynamic loss scaling (train.precision: fp16). fp16 arithmetic itself needs a GPU, so the scaler's whole path
/// runs here with fp32 arithmetic: overflows are forced with inputs whose scaled gradients exceed float32's range.
/// </summary>
[Collection(TorchRngCollection.Name)]
public class LossScalerTests
{
    static (TinyNet Net, TrainingOptimizer Opt) Build(int seed = 3) => TrainerTests.Build(seed);

    static TrainerOptions Options(long steps, MixedPrecision? precision, int checkpointEvery = 0) =>
        TrainerTests.Options(steps, checkpointEvery) with { PlotCurves = false, TensorBoard = false, Precision = precision };

    static readonly LrSchedule Schedule = LrSchedule.Constant;   // the learning rate (saved in optimizer.bin) the same at every step

    /// <summary>TinyNet's batches; batch <paramref name="overflowAt"/> is marked to overflow.</summary>
    static IEnumerable<(Tensor X, Tensor Y, bool Overflow)> Data(long start, long overflowAt = -1)
    {
        long i = start;
        foreach (var (x, y) in TinyNet.Data(start)) yield return (x, y, i++ == overflowAt);
    }

    /// <summary>
    /// TinyNet's step; on a marked batch the loss gains 10^34 · Σ(w − w.detach()) for the first weight: worth exactly 0, with
    /// a gradient of 10^34 per entry, which a loss scale of 2^16 takes past float32's range (3.4·10^38): an overflow.
    /// </summary>
    static StepOutput Step(TinyNet net, (Tensor X, Tensor Y, bool Overflow) b)
    {
        var o = TinyNet.Step(net, (b.X, b.Y));
        if (!b.Overflow) return o;
        var w = net.parameters().First();
        return o with { Loss = o.Loss + (w - w.detach()).sum() * 1e34 };
    }

    static Dictionary<string, byte[]> Snapshot(TinyNet net, TrainingOptimizer opt)
    {
        var path = Path.Combine(TestSetup.TempDir("loss-scale-opt"), "optimizer.bin");
        opt.Save(path);
        return net.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone().data<float>().ToArray()
                                                                   .SelectMany(BitConverter.GetBytes).ToArray())
                  .Append(new KeyValuePair<string, byte[]>("optimizer.bin", File.ReadAllBytes(path))).ToDictionary();
    }

    [Fact]
    public void An_overflow_skips_the_step_halves_the_scale_and_leaves_weights_and_optimiser_state_unchanged()
    {
        var (net, opt) = Build();
        var scaler = new LossScaler(65536, growthInterval: 1000);
        var precision = MixedPrecision.Fp32WithScaler(CPU, scaler);
        // Two good steps, then the overflowing batch (step 3).
        new Trainer(net, opt, Schedule, Options(2, precision), null).Run(s => Data(s), b => Step(net, b));
        Assert.Equal(65536, scaler.Scale);
        Assert.Equal(2, scaler.GoodSteps);
        var before = Snapshot(net, opt);
        var values = new List<IReadOnlyDictionary<string, double>>();
        new Trainer(net, opt, Schedule, Options(1, precision), null)
            .Run(s => Data(s + 2, overflowAt: 2), b => Step(net, b), onStep: (_, v) => values.Add(v.ToDictionary()));
        Assert.Equal(32768, scaler.Scale);
        Assert.Equal(0, scaler.GoodSteps);
        Assert.Equal(1, scaler.SkippedSteps);
        var after = Snapshot(net, opt);
        foreach (var (name, bytes) in before) Assert.True(bytes.SequenceEqual(after[name]), $"{name} changed on a skipped step");
        Assert.Equal(1.0, values[0]["skipped"]);
        Assert.Equal(65536, values[0]["loss_scale"]);
        Assert.Equal(0.0, values[0]["grad_norm"]);           // a skipped step's norm counts as 0, never as a divergence
        Assert.True(double.IsFinite(values[0]["loss"]));

        // The next batch steps at the halved scale.
        new Trainer(net, opt, Schedule, Options(1, precision), null).Run(s => Data(s + 3), b => Step(net, b));
        Assert.Equal(32768, scaler.Scale);
        Assert.Equal(1, scaler.SkippedSteps);
        var stepped = Snapshot(net, opt);
        Assert.False(stepped["optimizer.bin"].SequenceEqual(after["optimizer.bin"]));
    }

    [Fact]
    public void A_nan_gradient_is_skipped_too()
    {
        var (net, opt) = Build();
        var scaler = new LossScaler(1024);
        var before = Snapshot(net, opt);
        new Trainer(net, opt, Schedule, Options(1, MixedPrecision.Fp32WithScaler(CPU, scaler)), null).Run(s => TinyNet.Data(s), b =>
        {
            // |w − w.detach()|^½ is worth 0 and its gradient is NaN (sign(0) · ∞): the loss stays finite.
            var o = TinyNet.Step(net, b);
            var w = net.parameters().First();
            return o with { Loss = o.Loss + (w - w.detach()).abs().sqrt().sum() };
        });
        Assert.Equal(512, scaler.Scale);
        Assert.Equal(1, scaler.SkippedSteps);
        foreach (var (name, bytes) in Snapshot(net, opt)) Assert.True(bytes.SequenceEqual(before[name]), $"{name} changed");
    }

    [Fact]
    public void Where_nothing_overflows_training_equals_fp32()
    {
        // A power-of-two scale multiplies and divides exactly: the weights come out bit for bit as fp32's.
        var (a, optA) = Build();
        var lossesA = new List<double>();
        new Trainer(a, optA, Schedule, Options(6, null), null).Run(s => Data(s), x => Step(a, x), onStep: (_, v) => lossesA.Add(v["loss"]));
        var (b, optB) = Build();
        var lossesB = new List<double>();
        var scaler = new LossScaler(65536, growthInterval: 2);
        new Trainer(b, optB, Schedule, Options(6, MixedPrecision.Fp32WithScaler(CPU, scaler)), null)
            .Run(s => Data(s), x => Step(b, x), onStep: (_, v) => lossesB.Add(v["loss"]));
        Assert.Equal(lossesA, lossesB);
        var pb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in a.named_parameters()) Assert.True(p.eq(pb[name]).all().item<bool>(), $"{name} differs from fp32");
        Assert.Equal(65536.0 * 8, scaler.Scale);             // grew after every 2 good steps: 3 times
        Assert.Equal(0, scaler.SkippedSteps);
    }

    [Fact]
    public void The_scale_grows_after_the_growth_interval_of_good_steps()
    {
        var s = new LossScaler(8, growthInterval: 3);
        using var finite = tensor(1.5f);
        using var inf = tensor(float.PositiveInfinity);
        Assert.False(s.Update(finite, 1).Skip);
        Assert.False(s.Update(finite, 2).Skip);
        Assert.Equal(8, s.Scale);
        var third = s.Update(finite, 3);
        Assert.Equal(8, third.ScaleUsed);
        Assert.Equal(16, s.Scale);
        Assert.Equal(0, s.GoodSteps);
        Assert.True(s.Update(inf, 4).Skip);
        Assert.Equal(8, s.Scale);
        Assert.False(s.Update(finite, 5).Skip);
        Assert.Equal(1, s.GoodSteps);
    }

    [Fact]
    public void Overflows_without_end_are_a_divergence()
    {
        var s = new LossScaler(65536);
        using var inf = tensor(float.NaN);
        for (int i = 1; i < LossScaler.MaxConsecutiveSkips; i++) Assert.True(s.Update(inf, i).Skip);
        var e = Assert.Throws<TrainingDiverged>(() => s.Update(inf, LossScaler.MaxConsecutiveSkips));
        Assert.Contains("fp16", e.Message);
        Assert.Contains("train.precision=bf16", e.Message);
        Assert.Equal(ExitCodes.Diverged, e.ExitCode);
    }

    [Fact]
    public void The_scale_is_saved_in_checkpoints_restored_on_resume_and_logged()
    {
        var run = TestSetup.TempDir("loss-scale-resume");
        var (net, opt) = Build();
        var scaler = new LossScaler(65536, growthInterval: 1000);
        // Step 2's batch overflows: the scale is 32768 from then on, with 2 good steps by step 4.
        using var cts = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => new Trainer(net, opt, Schedule, Options(8, MixedPrecision.Fp32WithScaler(CPU, scaler), checkpointEvery: 2), run)
            .Run(s => Data(s, overflowAt: 1), b => Step(net, b), onStep: (s, _) => { if (s == 4) cts.Cancel(); }, ct: cts.Token));
        Assert.Equal(32768, scaler.Scale);
        var state = Directory.GetFiles(Path.Combine(run, "checkpoints"), "state.json", SearchOption.AllDirectories).Order().Last();
        var extra = JsonDocument.Parse(File.ReadAllText(state)).RootElement.GetProperty("extra");
        Assert.Equal("32768", extra.GetProperty("loss_scale").GetString());
        Assert.Equal("2", extra.GetProperty("loss_scale_good_steps").GetString());

        var (net2, opt2) = Build(seed: 99);
        var resumed = new LossScaler(65536, growthInterval: 1000);
        new Trainer(net2, opt2, Schedule, Options(8, MixedPrecision.Fp32WithScaler(CPU, resumed), checkpointEvery: 2), run)
            .Run(s => Data(s, overflowAt: 1), b => Step(net2, b), resume: true);
        Assert.Equal(32768, resumed.Scale);
        Assert.Equal(6, resumed.GoodSteps);
        var logged = MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).ToList();
        Assert.Equal(1.0, logged.Single(r => r.Step == 2).Values["skipped"]);
        Assert.Equal(65536, logged.Single(r => r.Step == 2).Values["loss_scale"]);
        Assert.Equal(32768, logged.Single(r => r.Step == 8).Values["loss_scale"]);
        Assert.Equal(0.0, logged.Single(r => r.Step == 8).Values["skipped"]);
    }

    [Fact]
    public void Fp16_is_a_precision_with_a_scaler_from_the_config_and_auto_says_why_on_a_gpu()
    {
        var cfg = ConfigLoader.Load("small", overrides: ["train.precision=fp16", "train.loss_scale_init=1024", "train.loss_scale_growth_interval=10"]);
        Assert.Equal(Precision.Fp16, TrainConfig.Resolve(cfg));
        var p = MixedPrecision.For(cfg, CPU, new StringWriter());
        if (p.Precision == Precision.Fp16)
        {
            Assert.NotNull(p.Scaler);
            Assert.Equal(1024, p.Scaler!.Scale);
            Assert.Equal(10, p.Scaler.GrowthInterval);
        }
        Assert.Null(MixedPrecision.Setup(Precision.Fp32, CPU).Scaler);
        Assert.Null(MixedPrecision.Setup(Precision.Bf16, CPU).Scaler);
        Assert.Equal((Precision.Fp32, "auto: the CPU"), MixedPrecision.Auto(CPU));
        Assert.Equal("fp32", MixedPrecision.Setup(Precision.Auto, CPU).ToString());
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load("small", overrides: ["train.loss_scale_init=0"]));
        Assert.Contains("train.loss_scale_init", e.Message);
        Assert.Null(CudaDevice.ComputeCapability(0) is { } cc && !cuda.is_available() ? cc : null);   // no driver here: nothing to read
    }
}
