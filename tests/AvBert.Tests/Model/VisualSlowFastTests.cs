using AvBert.Config;
using AvBert.Model;
using AvBert.Model.Reference;
using AvBert.Pretraining;
using AvBert.Storage;
using AvBert.Tests.Model.Reference;
using AvBert.Tests.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>
/// model.visual.arch: slowfast — PySlowFast's SlowFast-R50 as the visual CNN: its parameter count, parity with their
/// model code (the golden of scripts/make-slowfast-golden.sh), the pathways' frames, the laterals, the config checks.
/// </summary>
[Collection(TorchRngCollection.Name)]
public class VisualSlowFastTests(ITestOutputHelper output)
{
    static VisualCnnConfig SlowFast(Func<VisualCnnConfig, VisualCnnConfig>? edit = null)
    {
        var c = new VisualCnnConfig { Arch = VisualCnnArch.Slowfast };
        return edit is null ? c : edit(c);
    }

    [Fact]
    public void SlowFast_R50_has_the_parameter_count_of_PySlowFasts_model()
    {
        // Their SlowFast (configs/Kinetics/SLOWFAST_4x16_R50.yaml's model, their defaults otherwise: α 8, β⁻¹ 8, fusion
        // kernel 5, ratio 2) built by scripts/goldens/make_slowfast_golden.py has 34,480,216 parameters with its
        // 400-class head (a linear layer on the 2048 + 256 pooled channels); ours is the model without that head.
        using var model = new AvBertModel(new ModelConfig { Visual = SlowFast(), Modalities = Modalities.Visual, Fusion = Fusion.Late });
        var counts = ParameterCounts.Of(model);
        Assert.Equal(2048 + 256, model.VisualFeatureDim);
        long head = (2048 + 256) * 400 + 400;
        Assert.Equal(34_480_216, counts.VisualCnn + head);
        Assert.IsType<VisualSlowFast>(model.VisualCnn);
    }

    [Fact]
    public void The_default_arch_is_the_single_pathway_resnet()
    {
        Assert.Equal(VisualCnnArch.Resnet, new VisualCnnConfig().Arch);
        Assert.IsType<VisualResNet3D>(VisualCnns.Build(new VisualCnnConfig { StageBlocks = [1, 1, 1, 1], WidthPerGroup = 2 }));
    }

    [Fact]
    public void Pooled_features_match_PySlowFasts_model_on_the_golden()
    {
        // Their tiny SlowFast-R50 (depth 50, width 2, β⁻¹ 2, α 2, fusion kernel 5, ratio 2), every parameter and BN
        // statistic randomised, eval mode, one clip of 4 frames at 32×32 (see the file's metadata).
        var golden = SafetensorsFile.ReadAll(ReferenceGoldenTests.Golden("slowfast-r50.safetensors"));
        using var cnn = new VisualSlowFast(SlowFast(c => c with
        {
            WidthPerGroup = 2, Slowfast = c.Slowfast with { BetaInv = 2, Alpha = 2, FusionKernel = 5, FusionChannelRatio = 2 },
        }));
        // Every tensor of ours has its golden counterpart of the same shape, and every golden tensor is used.
        var ours = cnn.state_dict().Where(kv => !kv.Key.EndsWith("num_batches_tracked")).ToDictionary(kv => kv.Key, kv => kv.Value);
        var theirs = golden.Keys.Where(k => k.StartsWith("state.")).Select(k => k["state.".Length..]).Order().ToList();
        Assert.Equal(theirs, ours.Keys.Order().ToList());
        using (no_grad())
            foreach (var (name, t) in ours)
            {
                var g = golden["state." + name];
                Assert.Equal(g.shape, t.shape);
                t.copy_(g.to(float32));
            }
        Assert.Equal(50_335, cnn.parameters().Sum(p => p.numel()));   // their tiny model's count (the file's cnn_parameters)
        cnn.eval();
        using var _ = no_grad();
        var pooled = cnn.call(golden["input.clip"].to(float32));
        var reference = golden["output.pooled"].to(float32);
        Assert.Equal(reference.shape, pooled.shape);
        double error = (pooled - reference).abs().max().item<float>(), scale = reference.abs().max().item<float>();
        output.WriteLine($"max |ours - PySlowFast| = {error:g3}, max |PySlowFast| = {scale:g3}");
        Assert.True(error <= ReferenceOutputs.Tolerance * scale, $"max |ours - PySlowFast| = {error:g3} (scale {scale:g3})");
    }

    [Theory]
    [InlineData(32, 8, new long[] { 0, 10, 20, 31 })]   // SlowFast-R50 4×16: round-down(linspace(0, 31, 4))
    [InlineData(4, 2, new long[] { 0, 3 })]
    [InlineData(16, 4, new long[] { 0, 5, 10, 15 })]
    [InlineData(8, 1, new long[] { 0, 1, 2, 3, 4, 5, 6, 7 })]
    public void The_slow_pathway_takes_PySlowFasts_packed_frames(long frames, int alpha, long[] expected)
    {
        using var index = VisualSlowFast.SlowFrames(frames, alpha);
        Assert.Equal(expected, index.data<long>().ToArray());
    }

    [Fact]
    public void A_pretraining_step_runs_and_gradients_reach_both_pathways_through_the_laterals()
    {
        manual_seed(5);
        var c = Pretraining.PretrainerTests.Tiny("model.visual.arch=slowfast", "model.visual.slowfast.alpha=2",
                                                 "model.visual.slowfast.beta_inv=2", "model.visual.stage_blocks=[1, 1, 1, 1]");
        var model = new AvBertModel(c.Model, c.Data);
        var cnn = Assert.IsType<VisualSlowFast>(model.VisualCnn);
        var d = c.Data;
        var (v, a) = (randn([2, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize]),
                      randn([2, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime]));
        // [B, T, 3, F, H, W] → [B, T, C_slow + C_fast]: width 4 → 4·32 slow + 2·32 fast channels.
        Assert.Equal(new long[] { 2, d.SequenceLength, 4 * 32 + 2 * 32 }, model.PoolVisual(v).shape);

        var pretrainer = new AvBertPretrainer(model, c.Model, c.Pretrain);
        var loss = pretrainer.forward(v, a).Total;
        Assert.True(double.IsFinite(loss.item<float>()));
        loss.backward();
        double Grad(string prefix) => cnn.named_parameters().Where(p => p.name.StartsWith(prefix) && p.parameter.grad is not null)
                                         .Sum(p => p.parameter.grad!.abs().sum().item<float>());
        foreach (var part in new[] { "fuse0.conv", "fuse1.conv", "fuse2.conv", "fuse3.conv", "slow_stem", "fast_stem", "fast_stage4", "slow_stage4" })
            Assert.True(Grad(part) > 0, $"{part} got no gradient");
    }

    [Fact]
    public void The_fast_pathway_reaches_the_pooled_feature_only_through_its_own_maps_and_the_laterals()
    {
        // Zeroing the laterals' BN scale and shift cuts fast → slow: the slow half of the feature then no longer depends
        // on frames the slow pathway does not see, while with the laterals it does.
        manual_seed(6);
        using var cnn = new VisualSlowFast(SlowFast(c => c with
        {
            StageBlocks = [1, 1, 1, 1], WidthPerGroup = 4, Slowfast = c.Slowfast with { Alpha = 2, BetaInv = 2 },
        }));
        cnn.eval();
        using var _ = no_grad();
        var clip = randn([1, 3, 4, 32, 32]);
        var other = clip.clone();
        other.select(2, 1).copy_(randn([1, 3, 32, 32]));    // frame 1: not one of the slow pathway's (0 and 3)
        long slowChannels = ResNetWidths.FeatureDim(ResNetBlock.Bottleneck, 4);
        Tensor SlowHalf(Tensor x) => cnn.call(x).narrow(1, 0, slowChannels);
        Assert.False(SlowHalf(clip).allclose(SlowHalf(other), 1e-5, 1e-5), "the laterals should carry frame 1 into the slow pathway");
        foreach (var bn in cnn.named_modules().Where(m => m.name.StartsWith("fuse") && m.module is SyncBatchNorm3d).Select(m => (SyncBatchNorm3d)m.module))
        {
            bn.weight!.zero_();
            bn.bias!.zero_();
        }
        Assert.True(SlowHalf(clip).allclose(SlowHalf(other), 1e-6, 1e-6));
    }

    [Theory]
    [InlineData("model.visual.slowfast.alpha=3", "'model.visual.slowfast.alpha: 3' must divide data.num_frames (8)")]
    [InlineData("model.visual.slowfast.alpha=0", "'model.visual.slowfast.alpha: 0' must be >= 1")]
    [InlineData("model.visual.slowfast.beta_inv=3", "'model.visual.slowfast.beta_inv: 3' must be >= 1 and divide model.visual.width_per_group (8)")]
    [InlineData("model.visual.slowfast.fusion_kernel=4", "'model.visual.slowfast.fusion_kernel: 4' must be odd")]
    [InlineData("model.visual.slowfast.fusion_channel_ratio=0", "'model.visual.slowfast.fusion_channel_ratio: 0'")]
    [InlineData("model.visual.slowfast.fast_temporal_kernels=[3, 3, 2, 3]", "model.visual.slowfast.fast_temporal_kernels")]
    [InlineData("model.visual.block=basic", "'model.visual.block: basic' must be bottleneck with model.visual.arch: slowfast")]
    [InlineData("model.visual.temporal_kernel_blocks=[3, 4, 6, 3]", "'model.visual.temporal_kernel_blocks: [3, 4, 6, 3]' must be empty with model.visual.arch: slowfast")]
    public void Bad_slowfast_settings_are_one_line_errors_naming_the_key(string set, string expected)
    {
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load("small", overrides: ["model.visual.arch=slowfast", set]));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Slowfast_is_a_key_on_any_preset_with_PySlowFasts_defaults()
    {
        var sf = ConfigLoader.Load("small", overrides: ["model.visual.arch=slowfast"]).Model.Visual;
        Assert.Equal(VisualCnnArch.Slowfast, sf.Arch);
        Assert.Equal((8, 8, 5, 2, 1, 5), (sf.Slowfast.Alpha, sf.Slowfast.BetaInv, sf.Slowfast.FusionKernel, sf.Slowfast.FusionChannelRatio,
                                          sf.Slowfast.SlowStemTemporalKernel, sf.Slowfast.FastStemTemporalKernel));
        Assert.Equal([1, 1, 3, 3], sf.Slowfast.SlowTemporalKernels);
        Assert.Equal([3, 3, 3, 3], sf.Slowfast.FastTemporalKernels);
        // With the default arch, SlowFast's fields are not checked (α 3 with 8 frames is fine for the single pathway).
        Assert.Equal(VisualCnnArch.Resnet, ConfigLoader.Load("small", overrides: ["model.visual.slowfast.alpha=3"]).Model.Visual.Arch);
    }

    [Fact]
    public void A_pool_window_is_PySlowFasts_head_pooling_on_each_pathway()
    {
        // Their head: AvgPool3d([F/α, ⌊S/32⌋, ⌊S/32⌋]) on the slow map and ([F, ⌊S/32⌋, ⌊S/32⌋]) on the fast one, stride 1,
        // then the mean of what remains. Here a [1, 2, 2] window (slow) and [2, 2, 2] (fast, α 2) on 3×3 maps.
        manual_seed(7);
        using var cnn = new VisualSlowFast(SlowFast(c => c with
        {
            StageBlocks = [1, 1, 1, 1], WidthPerGroup = 4, PoolWindow = [1, 2, 2], Slowfast = c.Slowfast with { Alpha = 2, BetaInv = 2 },
        }));
        cnn.eval();
        using var _ = no_grad();
        var clip = randn([2, 3, 8, 96, 96]);
        var (slow, fast) = cnn.FeatureMaps(clip);      // slow [2, 128, 4, 3, 3], fast [2, 64, 8, 3, 3]
        var expected = cat([VisualResNet3D.Pool(slow, [1, 2, 2]), VisualResNet3D.Pool(fast, [2, 2, 2])], 1);
        Assert.True(cnn.call(clip).allclose(expected, 1e-6, 1e-6));
        Assert.False(expected.allclose(cat([slow.mean([2L, 3L, 4L]), fast.mean([2L, 3L, 4L])], 1), 1e-4, 1e-4), "a 2×2 window on a 3×3 map is not the global mean");
    }

    [Fact]
    public void Convert_refuses_a_slowfast_reference_config()
    {
        var e = Assert.Throws<ConfigError>(() => ReferenceConfig.Parse("MODEL:\n  POOLING: true\nVIS:\n  ARCH: slowfast\n  MODEL_NAME: SlowFast\n", "x.yaml"));
        Assert.Contains("'VIS.ARCH: slowfast' is not supported", e.Message);
        Assert.Contains("model.visual.arch: slowfast", e.Message);
    }

    [Fact]
    public void A_clip_whose_frames_alpha_does_not_divide_is_refused()
    {
        using var cnn = new VisualSlowFast(SlowFast(c => c with { StageBlocks = [1, 1, 1, 1], WidthPerGroup = 8 }));
        var e = Assert.Throws<ArgumentException>(() => cnn.call(zeros([1, 3, 12, 32, 32])));
        Assert.Contains("model.visual.slowfast.alpha = 8", e.Message);
    }
}
