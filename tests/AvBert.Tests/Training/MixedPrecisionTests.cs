using AvBert.Config;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Training;

[Collection(TorchRngCollection.Name)]
public class MixedPrecisionTests
{
    [Fact]
    public void Libtorch_exports_autocast_and_regions_nest_and_restore()
    {
        Assert.True(Autocast.Available, LibTorchExports.Missing);
        Assert.False(Autocast.IsEnabled(CPU));
        var a = randn(8, 8);
        using (Autocast.Enter(CPU, ScalarType.BFloat16))
        {
            Assert.True(Autocast.IsEnabled(CPU));
            Assert.Equal(ScalarType.BFloat16, a.mm(a).dtype);                   // matmuls run in bf16
            using (Autocast.Disabled(CPU))
            {
                Assert.False(Autocast.IsEnabled(CPU));
                Assert.Equal(ScalarType.Float32, a.mm(a).dtype);
            }
            Assert.True(Autocast.IsEnabled(CPU));
        }
        Assert.False(Autocast.IsEnabled(CPU));
        Assert.Equal(ScalarType.Float32, a.mm(a).dtype);
    }

    [Fact]
    public void Auto_precision_is_fp32_on_the_cpu_and_config_accepts_bf16()
    {
        Assert.Equal(Precision.Fp32, MixedPrecision.Setup(Precision.Auto, CPU).Precision);
        Assert.Equal(Precision.Fp32, MixedPrecision.Setup(Precision.Tf32, CPU).Precision);
        Assert.Equal(Precision.Bf16, MixedPrecision.Setup(Precision.Bf16, CPU).Precision);
        Assert.Equal(Precision.Bf16, TrainConfig.Resolve(ConfigLoader.Load("small", overrides: ["train.precision=bf16"])));
        Assert.Equal(Precision.Auto, TrainConfig.Resolve(ConfigLoader.Load("small")));
    }

    [Fact]
    public void Deprecated_pretrain_precision_still_works_with_a_note_and_a_disagreement_is_a_config_error()
    {
        var old = ConfigLoader.Load("small", overrides: ["pretrain.precision=tf32"]);
        Assert.Equal(Precision.Tf32, TrainConfig.Resolve(old));
        var log = new StringWriter();
        Assert.Equal(Precision.Fp32, MixedPrecision.For(old, CPU, log).Precision);          // tf32 is fp32 on the CPU
        Assert.Contains("use train.precision=tf32", log.ToString());
        Assert.Null(TrainConfig.DeprecationNote(ConfigLoader.Load("small", overrides: ["train.precision=tf32"])));
        Assert.Equal(Precision.Tf32, TrainConfig.Resolve(ConfigLoader.Load("small", overrides: ["train.precision=tf32", "pretrain.precision=tf32"])));
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load("small", overrides: ["train.precision=fp32", "pretrain.precision=bf16"]));
        Assert.Contains("pretrain.precision", e.Message);
        Assert.Contains("train.precision (fp32)", e.Message);
        // a run's config.yaml written before train: existed (pretrain.precision only) still loads
        var path = Path.Combine(TestSetup.TempDir("precision-yaml"), "config.yaml");
        File.WriteAllText(path, "pretrain:\n  precision: bf16\n");
        Assert.Equal(Precision.Bf16, TrainConfig.Resolve(ConfigLoader.LoadFile(path)));
    }

    [Fact]
    public void Bf16_pretraining_runs_end_to_end_on_the_cpu_close_to_fp32()
    {
        // 64² crops: at 32² the last stage sees 2×2 maps, where libtorch 2.10's oneDNN bf16 conv3d weight gradient of the
        // 3×1×1 conv comes out NaN on this CPU (docs/performance-and-gpu.md) — a libtorch bug, not this code's.
        var c = AvBert.Tests.Pretraining.PretrainerTests.Tiny("data.train_crop_size=64", "data.test_crop_size=64", "data.train_jitter_scales=[64, 80]");
        manual_seed(5);
        var pretrainer = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain);
        var d = c.Data;
        var v = randn([4, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize]);
        var a = randn([4, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime]);

        (double Loss, double GradNorm, ScalarType SigmaType) Step(MixedPrecision precision)
        {
            pretrainer.zero_grad();
            manual_seed(9);
            PretrainLosses losses;
            ScalarType sigmaType;
            using (precision.Region())
            {
                losses = pretrainer.forward(v, a);
                using var pass = OrthogonalMatrix.Pass();
                sigmaType = pretrainer.modules().OfType<OrthogonalMatrix>().First().forward().dtype;
            }
            Assert.Equal(ScalarType.Float32, losses.Total.dtype);                  // losses in fp32
            losses.Total.backward();
            double norm = Math.Sqrt(pretrainer.parameters().Where(p => p.grad is not null).Sum(p => p.grad!.pow(2).sum().item<float>()));
            return (losses.Total.item<float>(), norm, sigmaType);
        }

        var fp32 = Step(MixedPrecision.Fp32(CPU));
        bool oneDnn = LibTorchContext.OneDnnEnabled;
        (double Loss, double GradNorm, ScalarType SigmaType) bf16;
        try
        {
            bf16 = Step(MixedPrecision.Setup(Precision.Bf16, CPU, TextWriter.Null)); // on the CPU: ATen's convolutions (oneDNN's bf16 gradients are unreliable)
            Assert.False(LibTorchContext.OneDnnEnabled);
        }
        finally { LibTorchContext.OneDnnEnabled = oneDnn; }
        Assert.True(double.IsFinite(bf16.Loss) && double.IsFinite(bf16.GradNorm), $"bf16 loss {bf16.Loss}, grad norm {bf16.GradNorm}; fp32 {fp32.Loss}, {fp32.GradNorm}; nonfinite grads: {string.Join(", ", pretrainer.named_parameters().Where(p => p.parameter.grad is { } g && !isfinite(g).all().item<bool>()).Select(p => p.name).Take(8))}");
        Assert.Equal(ScalarType.Float32, bf16.SigmaType);                          // orthogonal maps in fp32
        Assert.True(Math.Abs(bf16.Loss - fp32.Loss) <= 0.05 * Math.Abs(fp32.Loss), $"bf16 loss {bf16.Loss} vs fp32 {fp32.Loss}");
        Assert.True(Math.Abs(bf16.GradNorm - fp32.GradNorm) <= 0.25 * fp32.GradNorm, $"bf16 grad norm {bf16.GradNorm} vs fp32 {fp32.GradNorm}");
        // bf16 really ran: not bit-identical to fp32.
        Assert.NotEqual(fp32.Loss, bf16.Loss);
    }
}
