using AvBert.Runtime;
using AvBert.Model;
using AvBert.Storage;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public class ChannelsLastTests
{
    [Fact]
    public void Channels_last_layout_keeps_the_values_and_has_channel_stride_one()
    {
        var x = randn([2, 3, 4, 5, 6]);
        var cl = ChannelsLast.Of3d(x);
        Assert.True(ChannelsLast.Is3d(cl));
        Assert.False(ChannelsLast.Is3d(x));
        Assert.Equal(x.shape, cl.shape);
        Assert.True(cl.equal(x).all().item<bool>());
    }

    [Fact]
    public void Channels_last_forward_and_backward_equal_the_contiguous_ones()
    {
        manual_seed(4);
        var model = TinyModels.Build();
        var (v, _) = TinyModels.Inputs();
        var clips = v.flatten(0, 1);                          // [B·T, 3, F, H, W]
        var cnn = model.modules().OfType<VisualResNet3D>().Single();
        cnn.train();

        Tensor Run(bool channelsLast, out Tensor[] grads)
        {
            cnn.UseChannelsLast = channelsLast;
            foreach (var p in cnn.parameters()) p.grad = null;
            manual_seed(1);
            var map = cnn.FeatureMap(clips);
            // oneDNN's convolutions keep the layout through the whole CNN; ATen's own (oneDNN off: the self-check's last rung
            // on a CPU where every oneDNN path failed) return contiguous outputs, with the same values.
            Assert.Equal(channelsLast && !ConvolutionGuard.Default.UsingAtenConvolutions, ChannelsLast.Is3d(map));
            var pooled = map.mean([2L, 3L, 4L]);
            pooled.pow(2).sum().backward();
            grads = cnn.parameters().Select(p => p.grad!.clone()).ToArray();
            return pooled.detach();
        }

        var contiguous = Run(false, out var g0);
        var channelsLast = Run(true, out var g1);
        Assert.True(channelsLast.allclose(contiguous, rtol: 1e-4, atol: 1e-5), $"max diff {(channelsLast - contiguous).abs().max().item<float>():g3}");
        foreach (var (a, b) in g1.Zip(g0)) Assert.True(a.allclose(b, rtol: 1e-3, atol: 1e-4));
    }

    static VisualResNet3D Cnn(bool channelsLast)
    {
        manual_seed(4);
        var cnn = new VisualResNet3D(TinyModels.Model().Visual) { UseChannelsLast = channelsLast };
        cnn.train();
        return cnn;
    }

    static TrainingOptimizer Optimizer(VisualResNet3D cnn) =>
        TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(cnn.named_parameters(), 1e-2, 0.05), new AdamOptions());

    /// <summary>An optimiser step on a loss whose gradient is elementwise in the weights (2w), so that both layouts get
    /// bit-identical gradients and any difference is the optimiser's handling of the layout.</summary>
    static void Step(VisualResNet3D cnn, TrainingOptimizer opt)
    {
        using var scope = NewDisposeScope();
        opt.ZeroGrad();
        stack(cnn.parameters().Select(p => p.pow(2).sum()).ToArray()).sum().backward();
        opt.Step();
    }

    /// <summary>5-D weights whose kernel is not 1×1×1 (those are contiguous and channels-last at once).</summary>
    static List<Tensor> Kernels(VisualResNet3D cnn) => cnn.parameters().Where(p => p.dim() == 5 && p.shape[2] * p.shape[3] * p.shape[4] > 1).Cast<Tensor>().ToList();

    [Fact]
    public void Channels_last_weights_train_like_contiguous_ones_and_files_keep_the_contiguous_format()
    {
        var dir = TestSetup.TempDir("channels-last-weights");
        var plain = Cnn(false);
        var cl = Cnn(true);
        Assert.Equal(0, ChannelsLast.Prepare(plain, CPU));                 // a CNN told to stay contiguous is left alone
        Assert.True(ChannelsLast.Prepare(cl, CPU) >= Kernels(cl).Count);
        Assert.NotEmpty(Kernels(cl));
        Assert.All(Kernels(cl), w => Assert.True(ChannelsLast.Is3d(w)));

        // Weight files: the same bytes (contiguous), and a channels-last model loads them keeping its layout.
        SafetensorsFile.Write(Path.Combine(dir, "plain.safetensors"), plain.state_dict());
        SafetensorsFile.Write(Path.Combine(dir, "cl.safetensors"), cl.state_dict());
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "plain.safetensors")), File.ReadAllBytes(Path.Combine(dir, "cl.safetensors")));

        using var optPlain = Optimizer(plain);
        using var optCl = Optimizer(cl);
        Assert.All(Kernels(cl), w => Assert.True(ChannelsLast.Is3d(w) && ChannelsLast.Is3d(w.grad!)));   // the flat buffers keep the layout
        // The network's gradients land in the channels-last gradient views with the contiguous model's values.
        var x = randn([2, 3, 4, 16, 16], generator: new Generator(3));
        foreach (var (cnn, opt) in new[] { (plain, optPlain), (cl, optCl) })
        {
            opt.ZeroGrad();
            cnn.forward(x).pow(2).sum().backward();
        }
        foreach (var ((name, a), (_, b)) in plain.named_parameters().Zip(cl.named_parameters()))
        {
            double diff = (a.grad! - b.grad!).abs().max().item<float>(), scale = a.grad!.abs().max().item<float>();
            Assert.True(diff <= 1e-3 * scale, $"{name}: gradient max |Δ| {diff:g3} of max {scale:g3}");   // float32 summation order (a scrambled layout is off by O(1))
        }
        // The fused optimiser updates them exactly as the contiguous ones.
        for (int i = 0; i < 3; i++)
        {
            Step(plain, optPlain);
            Step(cl, optCl);
        }
        foreach (var ((name, a), (_, b)) in plain.named_parameters().Zip(cl.named_parameters()))
            Assert.True(a.equal(b).all().item<bool>(), $"{name}: max |Δ| {(a - b).abs().max().item<float>():g3}");
        Assert.All(Kernels(cl), w => Assert.True(ChannelsLast.Is3d(w)));

        // Checkpoint round trip: weights and optimiser state into a fresh channels-last model continue exactly.
        var weights = Path.Combine(dir, "step3.safetensors");
        var optimizerFile = Path.Combine(dir, "optimizer.bin");
        SafetensorsFile.Write(weights, cl.state_dict());
        optCl.Save(optimizerFile);
        optPlain.Save(Path.Combine(dir, "optimizer-plain.bin"));
        Assert.Equal(new FileInfo(Path.Combine(dir, "optimizer-plain.bin")).Length, new FileInfo(optimizerFile).Length);
        var resumed = Cnn(true);
        ChannelsLast.Prepare(resumed, CPU);
        using var optResumed = Optimizer(resumed);
        SafetensorsFile.LoadInto(resumed.state_dict(), weights, "test");
        optResumed.Load(optimizerFile);
        Assert.All(Kernels(resumed), w => Assert.True(ChannelsLast.Is3d(w)));
        Step(cl, optCl);
        Step(resumed, optResumed);
        foreach (var ((name, a), (_, b)) in cl.named_parameters().Zip(resumed.named_parameters()))
            Assert.True(a.equal(b).all().item<bool>(), $"{name}: resumed differs by {(a - b).abs().max().item<float>():g3}");
    }
}
