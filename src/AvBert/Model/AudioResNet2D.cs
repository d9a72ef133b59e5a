using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>
/// The audio CNN (SPEC §2): a 2D ResNet over log-mel spectrograms. Stem = 9×1 conv → BN → ReLU → 1×9 conv → BN → ReLU
/// (no stride, no pool); four residual stages (stride 2 each by default; the first two use separable 3×1 + 1×3 convs);
/// global average pool. [N, 1, FREQ, TIME] → [N, C] (C = 1024 at width 32; 80×128 inputs give a 1024×5×8 map).
/// </summary>
public sealed class AudioResNet2D : Module<Tensor, Tensor>, ICheckpointedCnn
{
    readonly AudioStem stem;
    readonly ModuleList<Module<Tensor, Tensor>> stage1, stage2, stage3, stage4;

    public int OutputChannels { get; }

    public AudioResNet2D(AudioCnnConfig c) : base(nameof(AudioResNet2D))
    {
        int w = c.WidthPerGroup;
        stem = new AudioStem(1, w, c.StemKernel, c.BnEps, c.BnMomentum);
        var stages = ResNetStages.Build(c.Block, w, c.NumGroups, c.StageBlocks, c.Strides, c.Dilations,
            c.StrideOnFirstConv, c.BnEps, c.BnMomentum,
            (s, _, o) => o with { Separable = c.SeparableStages[s] },
            o => c.Block == ResNetBlock.Bottleneck ? new ResNetBottleneck2D(o) : new ResNetBasicBlock2D(o));
        (stage1, stage2, stage3, stage4) = (stages[0], stages[1], stages[2], stages[3]);
        OutputChannels = ResNetWidths.FeatureDim(c.Block, w);
        RegisterComponents();
    }

    /// <summary>The last stage's feature map [N, C, FREQ', TIME'] (before pooling).</summary>
    public Tensor FeatureMap(Tensor spectrograms)
    {
        var ck = Checkpoint;
        return ResNetStages.Run(ResNetStages.Stem(stem, spectrograms, ck), ck, stage1, stage2, stage3, stage4);
    }

    /// <summary>Checkpoint the stem and each stage or block (train.checkpoint_activations cnn, cnn_blocks or all).</summary>
    public CnnCheckpoint Checkpoint { get; set; }

    /// <summary>[N, 1, FREQ, TIME] → pooled [N, C].</summary>
    public override Tensor forward(Tensor spectrograms)
    {
        using var scope = NewDisposeScope();
        return FeatureMap(spectrograms).mean([2L, 3L]).MoveToOuterDisposeScope();
    }
}

/// <summary>A k×1 conv (frequency) → BN → ReLU → 1×k conv (time) → BN → ReLU, stride 1, 'same' padding.</summary>
public sealed class AudioStem : Module<Tensor, Tensor>
{
    readonly Conv2d conv_freq, conv_time;
    readonly SyncBatchNorm2d bn_freq, bn_time;

    public AudioStem(int inChannels, int outChannels, int kernel, double eps, double momentum) : base(nameof(AudioStem))
    {
        conv_freq = Conv2d(inChannels, outChannels, (kernel, 1), padding: (kernel / 2, 0), bias: false);
        bn_freq = new SyncBatchNorm2d(outChannels, eps, momentum);
        conv_time = Conv2d(outChannels, outChannels, (1, kernel), padding: (0, kernel / 2), bias: false);
        bn_time = new SyncBatchNorm2d(outChannels, eps, momentum);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => ResNetStages.ConvBnRelu(conv_time, bn_time, ResNetStages.ConvBnRelu(conv_freq, bn_freq, x));
}

/// <summary>
/// 2D bottleneck: 1×1 → BN → ReLU → 3×3 (or 3×1 → BN → ReLU → 1×3) → BN → ReLU → 1×1 → BN, plus the (projected)
/// input, → ReLU.
/// </summary>
public sealed class ResNetBottleneck2D : Module<Tensor, Tensor>
{
    readonly Conv2d conv1, conv3;
    readonly SyncBatchNorm2d bn1, bn3;
    readonly Conv2d? conv2, conv2_freq, conv2_time;
    readonly SyncBatchNorm2d? bn2, bn2_freq, bn2_time;
    readonly Conv2d? shortcut_conv;
    readonly SyncBatchNorm2d? shortcut_bn;

    public ResNetBottleneck2D(ResBlockOptions o) : base(nameof(ResNetBottleneck2D))
    {
        var (s1, s3) = o.StrideOnFirstConv ? (o.Stride, 1) : (1, o.Stride);
        int d = o.Dilation;
        // The reference strides only the time axis here, which cannot run (its shortcut strides both axes);
        // we stride both, so the option works.
        conv1 = Conv2d(o.In, o.Inner, (1, 1), stride: (s1, s1), bias: false);
        bn1 = new SyncBatchNorm2d(o.Inner, o.BnEps, o.BnMomentum);
        if (o.Separable)
        {
            conv2_freq = Conv2d(o.Inner, o.Inner, (3, 1), stride: (s3, 1), padding: (d, 0), dilation: (d, 1), groups: o.Groups, bias: false);
            bn2_freq = new SyncBatchNorm2d(o.Inner, o.BnEps, o.BnMomentum);
            conv2_time = Conv2d(o.Inner, o.Inner, (1, 3), stride: (1, s3), padding: (0, d), dilation: (1, d), groups: o.Groups, bias: false);
            bn2_time = new SyncBatchNorm2d(o.Inner, o.BnEps, o.BnMomentum);
        }
        else
        {
            conv2 = Conv2d(o.Inner, o.Inner, (3, 3), stride: (s3, s3), padding: (d, d), dilation: (d, d), groups: o.Groups, bias: false);
            bn2 = new SyncBatchNorm2d(o.Inner, o.BnEps, o.BnMomentum);
        }
        conv3 = Conv2d(o.Inner, o.Out, (1, 1), bias: false);
        bn3 = new SyncBatchNorm2d(o.Out, o.BnEps, o.BnMomentum);
        if (o.ProjectShortcut)
        {
            shortcut_conv = Conv2d(o.In, o.Out, (1, 1), stride: (o.Stride, o.Stride), bias: false);
            shortcut_bn = new SyncBatchNorm2d(o.Out, o.BnEps, o.BnMomentum);
        }
        RegisterComponents();
    }

    public SyncBatchNorm2d FinalBn => bn3;

    public override Tensor forward(Tensor x)
    {
        var h = ResNetStages.ConvBnRelu(conv1, bn1, x);
        h = conv2 is not null
            ? ResNetStages.ConvBnRelu(conv2, bn2!, h)
            : ResNetStages.ConvBnRelu(conv2_time!, bn2_time!, ResNetStages.ConvBnRelu(conv2_freq!, bn2_freq!, h));
        return ResNetStages.Residual(x, bn3.call(conv3.call(h)), shortcut_conv, shortcut_bn);
    }
}

/// <summary>2D basic block: 3×3 (or 3×1 → BN → ReLU → 1×3) → BN → ReLU → 3×3 → BN, plus the (projected) input, → ReLU.</summary>
public sealed class ResNetBasicBlock2D : Module<Tensor, Tensor>
{
    readonly Conv2d conv2;
    readonly SyncBatchNorm2d bn2;
    readonly Conv2d? conv1, conv1_freq, conv1_time;
    readonly SyncBatchNorm2d? bn1, bn1_freq, bn1_time;
    readonly Conv2d? shortcut_conv;
    readonly SyncBatchNorm2d? shortcut_bn;

    public ResNetBasicBlock2D(ResBlockOptions o) : base(nameof(ResNetBasicBlock2D))
    {
        int s = o.Stride;
        if (o.Separable)
        {
            conv1_freq = Conv2d(o.In, o.Out, (3, 1), stride: (s, 1), padding: (1, 0), bias: false);
            bn1_freq = new SyncBatchNorm2d(o.Out, o.BnEps, o.BnMomentum);
            conv1_time = Conv2d(o.Out, o.Out, (1, 3), stride: (1, s), padding: (0, 1), bias: false);
            bn1_time = new SyncBatchNorm2d(o.Out, o.BnEps, o.BnMomentum);
        }
        else
        {
            conv1 = Conv2d(o.In, o.Out, (3, 3), stride: (s, s), padding: (1, 1), bias: false);
            bn1 = new SyncBatchNorm2d(o.Out, o.BnEps, o.BnMomentum);
        }
        conv2 = Conv2d(o.Out, o.Out, (3, 3), padding: (1, 1), bias: false);
        bn2 = new SyncBatchNorm2d(o.Out, o.BnEps, o.BnMomentum);
        if (o.ProjectShortcut)
        {
            shortcut_conv = Conv2d(o.In, o.Out, (1, 1), stride: (s, s), bias: false);
            shortcut_bn = new SyncBatchNorm2d(o.Out, o.BnEps, o.BnMomentum);
        }
        RegisterComponents();
    }

    public SyncBatchNorm2d FinalBn => bn2;

    public override Tensor forward(Tensor x)
    {
        var h = conv1 is not null
            ? ResNetStages.ConvBnRelu(conv1, bn1!, x)
            : ResNetStages.ConvBnRelu(conv1_time!, bn1_time!, ResNetStages.ConvBnRelu(conv1_freq!, bn1_freq!, x));
        return ResNetStages.Residual(x, bn2.call(conv2.call(h)), shortcut_conv, shortcut_bn);
    }
}
