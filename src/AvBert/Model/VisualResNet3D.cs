using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>
/// The visual CNN (SPEC §2): a single-pathway 3D ResNet. Stem = conv (5×7×7, stride 2 in time and space) → BN → ReLU →
/// max-pool (1×3×3, spatial stride 2); four residual stages; global average pool.
/// [N, 3, F, H, W] → [N, C] (C = 2048 for ResNet-50; 32×112×112 clips give a 2048×16×4×4 map before the pool).
/// </summary>
public sealed class VisualResNet3D : Module<Tensor, Tensor>, ICheckpointedCnn
{
    readonly VisualStem stem;
    readonly ModuleList<Module<Tensor, Tensor>> stage1, stage2, stage3, stage4;
    readonly long[] poolWindow;

    /// <summary>Channels of the pooled feature.</summary>
    public int OutputChannels { get; }

    public VisualResNet3D(VisualCnnConfig c, int inputChannels = 3) : base(nameof(VisualResNet3D))
    {
        int w = c.WidthPerGroup;
        stem = new VisualStem(inputChannels, w, c.StemTemporalKernel, c.StemSpatialKernel, c.BnEps, c.BnMomentum);
        var stages = ResNetStages.Build(c.Block, w, c.NumGroups, c.StageBlocks, c.SpatialStrides, c.SpatialDilations,
            c.StrideOnFirstConv, c.BnEps, c.BnMomentum,
            (s, b, o) => o with { TemporalKernel = b < (c.TemporalKernelBlocks.Length == 0 ? c.StageBlocks[s] : c.TemporalKernelBlocks[s]) ? c.TemporalKernels[s] : 1 },
            o => c.Block == ResNetBlock.Bottleneck ? new ResNetBottleneck3D(o) : new ResNetBasicBlock3D(o));
        (stage1, stage2, stage3, stage4) = (stages[0], stages[1], stages[2], stages[3]);
        OutputChannels = ResNetWidths.FeatureDim(c.Block, w);
        poolWindow = c.PoolWindow.Select(k => (long)k).ToArray();
        RegisterComponents();
    }

    /// <summary>
    /// Run the CNN in channels-last-3d layout (<see cref="ChannelsLast"/>): null (default) = on CUDA only, where cuDNN is
    /// faster with it; the values are the same either way. <see cref="ChannelsLast.Prepare"/> lays the weights out to match.
    /// </summary>
    public bool? UseChannelsLast { get; set; }

    /// <summary>The last stage's feature map [N, C, F', H', W'] (before pooling).</summary>
    public Tensor FeatureMap(Tensor clips)
    {
        if (UseChannelsLast ?? ChannelsLast.ByDefault(clips.device)) clips = ChannelsLast.Of3d(clips);
        var ck = Checkpoint;
        return ResNetStages.Run(ResNetStages.Stem(stem, clips, ck), ck, stage1, stage2, stage3, stage4);
    }

    /// <summary>Checkpoint the stem and each stage or block (train.checkpoint_activations cnn, cnn_blocks or all).</summary>
    public CnnCheckpoint Checkpoint { get; set; }

    /// <summary>[N, 3, F, H, W] → pooled [N, C].</summary>
    public override Tensor forward(Tensor clips)
    {
        using var scope = NewDisposeScope();
        return Pool(FeatureMap(clips), poolWindow).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// [N, C, F', H', W'] → [N, C]: the reference's head (average over <paramref name="window"/> at stride 1, then over
    /// what remains; window dimensions clamped to the map), which is the global mean when the window covers the map or
    /// is empty.
    /// </summary>
    public static Tensor Pool(Tensor map, long[] window)
    {
        if (window.Length == 0) return map.mean([2L, 3L, 4L]);
        var kernel = window.Select((k, i) => Math.Min(k, map.shape[2 + i])).ToArray();
        if (kernel.Select((k, i) => k == map.shape[2 + i]).All(x => x)) return map.mean([2L, 3L, 4L]);
        return functional.avg_pool3d(map, kernel, [1L, 1L, 1L]).mean([2L, 3L, 4L]);
    }
}

/// <summary>
/// Conv (T×k×k, stride 2 in space and the temporal stride in time: 2 in the single-pathway ResNet, 1 in
/// SlowFast's pathways) → BN → ReLU → max-pool (1×3×3, spatial stride 2).
/// </summary>
public sealed class VisualStem : Module<Tensor, Tensor>
{
    readonly Conv3d conv;
    readonly SyncBatchNorm3d bn;

    public VisualStem(int inChannels, int outChannels, int temporalKernel, int spatialKernel, double eps, double momentum, int temporalStride = 2)
        : base(nameof(VisualStem))
    {
        conv = Conv3d(inChannels, outChannels, (temporalKernel, spatialKernel, spatialKernel), stride: (temporalStride, 2, 2),
                      padding: (temporalKernel / 2, spatialKernel / 2, spatialKernel / 2), bias: false);
        bn = new SyncBatchNorm3d(outChannels, eps, momentum);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        functional.max_pool3d(ResNetStages.ConvBnRelu(conv, bn, x), [1, 3, 3], [1, 2, 2], [0, 1, 1]);
}

/// <summary>3D bottleneck: T×1×1 → BN → ReLU → 1×3×3 → BN → ReLU → 1×1×1 → BN, plus the (projected) input, → ReLU.</summary>
public sealed class ResNetBottleneck3D : Module<Tensor, Tensor>
{
    readonly Conv3d conv1, conv2, conv3;
    readonly SyncBatchNorm3d bn1, bn2, bn3;
    readonly Conv3d? shortcut_conv;
    readonly SyncBatchNorm3d? shortcut_bn;

    public ResNetBottleneck3D(ResBlockOptions o) : base(nameof(ResNetBottleneck3D))
    {
        var (s1, s3) = o.StrideOnFirstConv ? (o.Stride, 1) : (1, o.Stride);
        conv1 = Conv3d(o.In, o.Inner, (o.TemporalKernel, 1, 1), stride: (1, s1, s1), padding: (o.TemporalKernel / 2, 0, 0), bias: false);
        bn1 = new SyncBatchNorm3d(o.Inner, o.BnEps, o.BnMomentum);
        conv2 = Conv3d(o.Inner, o.Inner, (1, 3, 3), stride: (1, s3, s3), padding: (0, o.Dilation, o.Dilation),
                       dilation: (1, o.Dilation, o.Dilation), groups: o.Groups, bias: false);
        bn2 = new SyncBatchNorm3d(o.Inner, o.BnEps, o.BnMomentum);
        conv3 = Conv3d(o.Inner, o.Out, (1, 1, 1), bias: false);
        bn3 = new SyncBatchNorm3d(o.Out, o.BnEps, o.BnMomentum);
        if (o.ProjectShortcut)
        {
            shortcut_conv = Conv3d(o.In, o.Out, (1, 1, 1), stride: (1, o.Stride, o.Stride), bias: false);
            shortcut_bn = new SyncBatchNorm3d(o.Out, o.BnEps, o.BnMomentum);
        }
        RegisterComponents();
    }

    /// <summary>The BN closing the residual branch (zero-initialised when training from scratch).</summary>
    public SyncBatchNorm3d FinalBn => bn3;

    public override Tensor forward(Tensor x)
    {
        var h = ResNetStages.ConvBnRelu(conv1, bn1, x);
        h = ResNetStages.ConvBnRelu(conv2, bn2, h);
        return ResNetStages.Residual(x, bn3.call(conv3.call(h)), shortcut_conv, shortcut_bn);
    }
}

/// <summary>3D basic block: T×3×3 → BN → ReLU → 1×3×3 → BN, plus the (projected) input, → ReLU.</summary>
public sealed class ResNetBasicBlock3D : Module<Tensor, Tensor>
{
    readonly Conv3d conv1, conv2;
    readonly SyncBatchNorm3d bn1, bn2;
    readonly Conv3d? shortcut_conv;
    readonly SyncBatchNorm3d? shortcut_bn;

    public ResNetBasicBlock3D(ResBlockOptions o) : base(nameof(ResNetBasicBlock3D))
    {
        conv1 = Conv3d(o.In, o.Out, (o.TemporalKernel, 3, 3), stride: (1, o.Stride, o.Stride), padding: (o.TemporalKernel / 2, 1, 1), bias: false);
        bn1 = new SyncBatchNorm3d(o.Out, o.BnEps, o.BnMomentum);
        conv2 = Conv3d(o.Out, o.Out, (1, 3, 3), padding: (0, 1, 1), bias: false);
        bn2 = new SyncBatchNorm3d(o.Out, o.BnEps, o.BnMomentum);
        if (o.ProjectShortcut)
        {
            shortcut_conv = Conv3d(o.In, o.Out, (1, 1, 1), stride: (1, o.Stride, o.Stride), bias: false);
            shortcut_bn = new SyncBatchNorm3d(o.Out, o.BnEps, o.BnMomentum);
        }
        RegisterComponents();
    }

    public SyncBatchNorm3d FinalBn => bn2;

    public override Tensor forward(Tensor x)
    {
        var h = ResNetStages.ConvBnRelu(conv1, bn1, x);
        return ResNetStages.Residual(x, bn2.call(conv2.call(h)), shortcut_conv, shortcut_bn);
    }
}
