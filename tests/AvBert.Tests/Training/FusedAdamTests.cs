using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Training;

[Collection(TorchRngCollection.Name)]
public class FusedAdamTests
{
    // Two nets with the same weights; one trained by the fused optimiser, the other by TorchSharp's per-tensor one.
    static (TinyNet Net, TrainingOptimizer Opt) Build(bool fused, OptimizerKind kind, double lr = 3e-2, double wd = 0.05)
    {
        manual_seed(7);
        var net = new TinyNet(dropout: 0);
        var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(net.named_parameters(), lr, wd),
            new AdamOptions { Kind = kind, Beta1 = 0.9, Beta2 = 0.98, AmsGrad = true, Fused = fused });
        return (net, opt);
    }

    static void Train(TinyNet net, TrainingOptimizer opt, int from, int steps)
    {
        foreach (var (b, i) in TinyNet.Data(from).Take(steps).Select((b, i) => (b, i + from)))
        {
            using var scope = NewDisposeScope();
            // A changing schedule so that per-group learning rates matter.
            opt.SetLearningRateFactor(0.5 + 0.5 * Math.Cos(i * 0.1));
            opt.ZeroGrad();
            TinyNet.Step(net, b).Loss.backward();
            opt.Step();
        }
    }

    static void AssertSameWeights(TinyNet a, TinyNet b, double tol)
    {
        foreach (var ((name, pa), (_, pb)) in a.named_parameters().Zip(b.named_parameters()))
        {
            double diff = (pa - pb).abs().max().item<float>();
            Assert.True(diff <= tol, $"{name}: max |Δ| = {diff}");
        }
    }

    [Theory]
    [InlineData(OptimizerKind.AdamW)]
    [InlineData(OptimizerKind.Adam)]
    public void Fused_step_equals_TorchSharps_optimiser_over_many_steps(OptimizerKind kind)
    {
        var (fusedNet, fused) = Build(true, kind);
        var (plainNet, plain) = Build(false, kind);
        Assert.NotNull(fused.GradientBuffers);
        Assert.Null(plain.GradientBuffers);
        Train(fusedNet, fused, 0, 200);
        Train(plainNet, plain, 0, 200);
        AssertSameWeights(fusedNet, plainNet, 1e-6);
        // It trained: the weights moved far from the start.
        var (startNet, _) = Build(false, kind);
        Assert.True((fusedNet.parameters().First() - startNet.parameters().First()).abs().max().item<float>() > 1e-2);
    }

    [Fact]
    public void Gradients_are_views_of_one_flat_buffer_and_accumulate_in_place()
    {
        var (net, opt) = Build(true, OptimizerKind.AdamW);
        var flat = Assert.Single(opt.GradientBuffers!);
        Assert.Equal(net.parameters().Sum(p => p.numel()), flat.numel());
        var (x, y) = TinyNet.Data(0).First();
        opt.ZeroGrad();
        TinyNet.Step(net, (x, y)).Loss.backward();
        var once = flat.clone();
        TinyNet.Step(net, (x, y)).Loss.backward();   // a second backward adds into the same buffer
        Assert.True(flat.allclose(once * 2, rtol: 1e-5, atol: 1e-7));
        Assert.True(once.abs().sum().item<float>() > 0);
        // Every parameter's grad is the matching slice of the buffer.
        var concatenated = cat(opt.Parameters.Select(p => p.grad!.reshape(-1)).ToArray());
        Assert.True(concatenated.equal(flat).all().item<bool>());
        using (no_grad()) flat.fill_(3);             // shared memory, not copies
        Assert.All(opt.Parameters, p => Assert.True(p.grad!.eq(3).all().item<bool>()));
        opt.ZeroGrad();
        Assert.Equal(0f, flat.abs().sum().item<float>());
    }

    [Fact]
    public void Checkpoint_of_the_fused_optimiser_keeps_TorchSharps_format_and_resumes_exactly()
    {
        var dir = TestSetup.TempDir("fused-opt");
        var (fusedNet, fused) = Build(true, OptimizerKind.AdamW);
        Train(fusedNet, fused, 0, 20);
        var path = Path.Combine(dir, "optimizer.bin");
        fused.Save(path);
        var weights = fusedNet.parameters().Select(p => p.detach().clone()).ToArray();

        // TorchSharp's own optimiser reads the file (same format) and continues like the fused one.
        var (plainNet, plain) = Build(false, OptimizerKind.AdamW);
        var (fused2Net, fused2) = Build(true, OptimizerKind.AdamW);
        using (no_grad())
        {
            foreach (var (p, w) in plainNet.parameters().Zip(weights)) p.copy_(w);
            foreach (var (p, w) in fused2Net.parameters().Zip(weights)) p.copy_(w);
        }
        plain.Load(path);
        fused2.Load(path);
        Train(fusedNet, fused, 20, 30);
        Train(plainNet, plain, 20, 30);
        Train(fused2Net, fused2, 20, 30);
        AssertSameWeights(fusedNet, fused2Net, 0);
        AssertSameWeights(fusedNet, plainNet, 1e-6);
    }

    [Fact]
    public void Device_clipping_scales_gradients_like_clip_grad_norm()
    {
        var (netA, optA) = Build(true, OptimizerKind.AdamW);
        var (netB, optB) = Build(false, OptimizerKind.AdamW);
        var b = TinyNet.Data(0).First();
        optA.ZeroGrad(); optB.ZeroGrad();
        (TinyNet.Step(netA, b).Loss * 100).backward();
        (TinyNet.Step(netB, b).Loss * 100).backward();
        var norm = GradientTools.ClipNormOnDevice(optA, 0.5);
        double expected = nn.utils.clip_grad_norm_(optB.Parameters, 0.5);
        Assert.Equal(expected, norm.item<float>(), expected * 1e-5);
        Assert.True(expected > 0.5);
        foreach (var (pa, pb) in optA.Parameters.Zip(optB.Parameters))
            Assert.True(pa.grad!.allclose(pb.grad!, rtol: 1e-5, atol: 1e-8));
        Assert.Equal(0.5, GradientTools.GradNorm(netA.named_parameters()), 1e-4);
    }
}
