using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>
/// The SlowFast visual CNN (Feichtenhofer et al., "SlowFast networks for video recognition", ICCV 2019), the network the
/// AVBERT paper names, as PySlowFast builds it (model.visual.arch: slowfast). Two 3D ResNets side by side: the fast
/// pathway sees all F frames of the clip with 1/β⁻¹ of the channels; the slow pathway sees F/α of them (PySlowFast's
/// PackPathway: the frames at round-down(linspace(0, F−1, F/α)), which is every α-th frame up to the last one).
/// After the stem and each of the first three stages a lateral connection (conv T_f×1×1 with temporal stride α → BN →
/// ReLU) maps the fast features to the slow frame rate and concatenates them to the slow features' channels. The stems
/// keep the frame rate (stride 1 in time, unlike the single-pathway ResNet's stem). The pooled feature is each
/// pathway's average, concatenated (slow first), as PySlowFast's head pools before its projection: the global mean, or
/// with model.visual.pool_window [t, h, w] their windowed pooling ([t, h, w] on the slow map, [α·t, h, w] on the fast
/// one, at stride 1, then the mean of what remains; their head's window is [F/α, ⌊crop/32⌋, ⌊crop/32⌋]).
/// [N, 3, F, H, W] → [N, C_slow + C_fast] (2048 + 256 for SlowFast-R50).
/// </summary>
public sealed class VisualSlowFast : Module<Tensor, Tensor>, ICheckpointedCnn
{
    readonly VisualStem slow_stem, fast_stem;
    readonly LateralFastToSlow fuse0, fuse1, fuse2, fuse3;
    readonly ModuleList<Module<Tensor, Tensor>> slow_stage1, slow_stage2, slow_stage3, slow_stage4;
    readonly ModuleList<Module<Tensor, Tensor>> fast_stage1, fast_stage2, fast_stage3, fast_stage4;
    readonly int alpha;
    readonly long[] slowPoolWindow, fastPoolWindow;

    /// <summary>Channels of the pooled feature: the slow pathway's then the fast pathway's.</summary>
    public int OutputChannels { get; }

    public VisualSlowFast(VisualCnnConfig c, int inputChannels = 3) : base(nameof(VisualSlowFast))
    {
        var sf = c.Slowfast;
        alpha = sf.Alpha;
        int slowWidth = c.WidthPerGroup, fastWidth = c.WidthPerGroup / sf.BetaInv;
        slow_stem = new VisualStem(inputChannels, slowWidth, sf.SlowStemTemporalKernel, c.StemSpatialKernel, c.BnEps, c.BnMomentum, temporalStride: 1);
        fast_stem = new VisualStem(inputChannels, fastWidth, sf.FastStemTemporalKernel, c.StemSpatialKernel, c.BnEps, c.BnMomentum, temporalStride: 1);

        // The lateral after the stem (s = 0) and after stage s (s = 1..3) takes the fast pathway's channels there.
        int FastChannels(int s) => s == 0 ? fastWidth : ResNetWidths.StageOut(c.Block, fastWidth, s - 1);
        var laterals = Enumerable.Range(0, 4)
            .Select(s => new LateralFastToSlow(FastChannels(s), sf.FusionChannelRatio, sf.FusionKernel, alpha, c.BnEps, c.BnMomentum)).ToArray();
        (fuse0, fuse1, fuse2, fuse3) = (laterals[0], laterals[1], laterals[2], laterals[3]);

        ModuleList<Module<Tensor, Tensor>>[] Pathway(int width, int[] temporalKernels, Func<int, int> extraInput) =>
            ResNetStages.Build(c.Block, width, c.NumGroups, c.StageBlocks, c.SpatialStrides, c.SpatialDilations,
                c.StrideOnFirstConv, c.BnEps, c.BnMomentum,
                (s, b, o) => o with { TemporalKernel = temporalKernels[s], In = o.In + (b == 0 ? extraInput(s) : 0) },
                o => new ResNetBottleneck3D(o));
        // Stage s of the slow pathway also takes the lateral's channels (the concatenation before it).
        var slow = Pathway(slowWidth, sf.SlowTemporalKernels, s => laterals[s].OutputChannels);
        var fast = Pathway(fastWidth, sf.FastTemporalKernels, _ => 0);
        (slow_stage1, slow_stage2, slow_stage3, slow_stage4) = (slow[0], slow[1], slow[2], slow[3]);
        (fast_stage1, fast_stage2, fast_stage3, fast_stage4) = (fast[0], fast[1], fast[2], fast[3]);
        OutputChannels = FeatureDim(c);
        slowPoolWindow = c.PoolWindow.Select(k => (long)k).ToArray();
        fastPoolWindow = slowPoolWindow.Select((k, i) => i == 0 ? k * alpha : k).ToArray();
        RegisterComponents();
    }

    /// <summary>Channels of the pooled feature of <paramref name="c"/>'s SlowFast: both pathways' last stage outputs.</summary>
    public static int FeatureDim(VisualCnnConfig c) =>
        ResNetWidths.FeatureDim(c.Block, c.WidthPerGroup) + ResNetWidths.FeatureDim(c.Block, c.WidthPerGroup / c.Slowfast.BetaInv);

    /// <summary>
    /// The slow pathway's frames of an F-frame clip: PySlowFast's PackPathway, round-down(linspace(0, F−1, F/α)) (computed
    /// with torch's linspace on the CPU, as their data loader does).
    /// </summary>
    public static Tensor SlowFrames(long frames, int alpha)
    {
        using var positions = linspace(0, frames - 1, frames / alpha, dtype: float32);
        return positions.to(int64);
    }

    /// <summary>As <see cref="VisualResNet3D.UseChannelsLast"/>.</summary>
    public bool? UseChannelsLast { get; set; }

    /// <summary>The two pathways' last feature maps: slow [N, C_s, F/α, H', W'], fast [N, C_f, F, H', W'].</summary>
    public (Tensor Slow, Tensor Fast) FeatureMaps(Tensor clips)
    {
        long frames = clips.shape[2];
        if (frames % alpha != 0)
            throw new ArgumentException($"a SlowFast clip needs a frame count divisible by model.visual.slowfast.alpha = {alpha}; got {frames} frames");
        if (UseChannelsLast ?? clips.device.type == DeviceType.CUDA) clips = ChannelsLast.Of3d(clips);
        using var frameIndex = SlowFrames(frames, alpha).to(clips.device);
        var ck = Checkpoint;
        var slow = ResNetStages.Stem(slow_stem, clips.index_select(2, frameIndex), ck);
        var fast = ResNetStages.Stem(fast_stem, clips, ck);
        slow = fuse0.call(slow, fast);
        (slow, fast) = (ResNetStages.Run(slow, ck, slow_stage1), ResNetStages.Run(fast, ck, fast_stage1));
        slow = fuse1.call(slow, fast);
        (slow, fast) = (ResNetStages.Run(slow, ck, slow_stage2), ResNetStages.Run(fast, ck, fast_stage2));
        slow = fuse2.call(slow, fast);
        (slow, fast) = (ResNetStages.Run(slow, ck, slow_stage3), ResNetStages.Run(fast, ck, fast_stage3));
        slow = fuse3.call(slow, fast);
        return (ResNetStages.Run(slow, ck, slow_stage4), ResNetStages.Run(fast, ck, fast_stage4));
    }

    /// <summary>Checkpoint the stem of each pathway and each stage or block (train.checkpoint_activations cnn, cnn_blocks or all); the lateral connections are not (they are small).</summary>
    public CnnCheckpoint Checkpoint { get; set; }

    /// <summary>[N, 3, F, H, W] → pooled [N, C_slow + C_fast].</summary>
    public override Tensor forward(Tensor clips)
    {
        using var scope = NewDisposeScope();
        var (slow, fast) = FeatureMaps(clips);
        return cat([VisualResNet3D.Pool(slow, slowPoolWindow), VisualResNet3D.Pool(fast, fastPoolWindow)], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// SlowFast's lateral connection (PySlowFast's FuseFastToSlow): conv (k×1×1, temporal stride α, C → ratio·C) → BN → ReLU
/// on the fast features, concatenated after the slow features' channels. slow [N, Cs, F/α, H, W], fast [N, C, F, H, W]
/// → [N, Cs + ratio·C, F/α, H, W].
/// </summary>
public sealed class LateralFastToSlow : Module<Tensor, Tensor, Tensor>
{
    readonly Conv3d conv;
    readonly SyncBatchNorm3d bn;

    /// <summary>Channels the lateral adds to the slow pathway.</summary>
    public int OutputChannels { get; }

    public LateralFastToSlow(int fastChannels, int channelRatio, int kernel, int alpha, double eps, double momentum)
        : base(nameof(LateralFastToSlow))
    {
        OutputChannels = fastChannels * channelRatio;
        conv = Conv3d(fastChannels, OutputChannels, (kernel, 1, 1), stride: (alpha, 1, 1), padding: (kernel / 2, 0, 0), bias: false);
        bn = new SyncBatchNorm3d(OutputChannels, eps, momentum);
        RegisterComponents();
    }

    public override Tensor forward(Tensor slow, Tensor fast) => cat([slow, ResNetStages.ConvBnRelu(conv, bn, fast)], 1);
}

/// <summary>The visual CNN of a config (model.visual.arch): the single-pathway 3D ResNet or SlowFast.</summary>
public static class VisualCnns
{
    public static Module<Tensor, Tensor> Build(VisualCnnConfig c) => c.Arch switch
    {
        VisualCnnArch.Slowfast => new VisualSlowFast(c),
        _ => new VisualResNet3D(c),
    };

    /// <summary>Channels of the pooled feature the projection takes.</summary>
    public static int FeatureDim(VisualCnnConfig c) => c.Arch switch
    {
        VisualCnnArch.Slowfast => VisualSlowFast.FeatureDim(c),
        _ => ResNetWidths.FeatureDim(c.Block, c.WidthPerGroup),
    };
}
