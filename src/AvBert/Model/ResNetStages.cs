using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>Geometry of one residual block, shared by the 3D (visual) and 2D (audio) ResNets.</summary>
/// <param name="In">input channels</param>
/// <param name="Out">output channels</param>
/// <param name="Inner">channels inside a bottleneck (unused by basic blocks)</param>
/// <param name="TemporalKernel">temporal kernel of the first conv (3D only)</param>
/// <param name="Stride">spatial stride of the block (1 except in a stage's first block)</param>
/// <param name="Dilation">dilation of the 3×3 conv</param>
/// <param name="Groups">groups of the 3×3 conv</param>
/// <param name="StrideOnFirstConv">stride on the first 1×1 conv instead of the 3×3</param>
/// <param name="Separable">(2D only) replace the 3×3 conv by 3×1 then 1×3</param>
public sealed record ResBlockOptions(int In, int Out, int Inner, int TemporalKernel, int Stride, int Dilation, int Groups,
                                     bool StrideOnFirstConv, bool Separable, double BnEps, double BnMomentum)
{
    /// <summary>The block needs a projection shortcut (1×1 conv + BN) when its shape changes.</summary>
    public bool ProjectShortcut => In != Out || Stride != 1;
}

/// <summary>
/// The four residual stages of the visual (3D) and audio (2D) trunks: how they are built (widths, strides, blocks) and
/// run, and the tail every residual block ends with. The trunks keep their stage fields (stage1…stage4), so the
/// state-dict names stay those of the reference.
/// </summary>
public static class ResNetStages
{
    /// <summary>
    /// Builds the four stages: stage s has <paramref name="stageBlocks"/>[s] blocks; its first block takes the previous
    /// stage's channels and <paramref name="strides"/>[s], the others keep the shape. <paramref name="perBlock"/> fills in
    /// what only one trunk has (temporal kernels, separable convs) for block b of stage s.
    /// </summary>
    public static ModuleList<Module<Tensor, Tensor>>[] Build(ResNetBlock block, int width, int groups, int[] stageBlocks, int[] strides,
        int[] dilations, bool strideOnFirstConv, double bnEps, double bnMomentum,
        Func<int, int, ResBlockOptions, ResBlockOptions> perBlock, Func<ResBlockOptions, Module<Tensor, Tensor>> newBlock)
    {
        var stages = new ModuleList<Module<Tensor, Tensor>>[4];
        for (int s = 0; s < 4; s++)
        {
            var stage = new ModuleList<Module<Tensor, Tensor>>();
            for (int b = 0; b < stageBlocks[s]; b++)
            {
                var o = new ResBlockOptions(
                    In: b == 0 ? ResNetWidths.StageIn(block, width, s) : ResNetWidths.StageOut(block, width, s),
                    Out: ResNetWidths.StageOut(block, width, s),
                    Inner: ResNetWidths.StageInner(width, groups, s),
                    TemporalKernel: 1,
                    Stride: b == 0 ? strides[s] : 1,
                    Dilation: dilations[s],
                    Groups: groups,
                    StrideOnFirstConv: strideOnFirstConv,
                    Separable: false,
                    BnEps: bnEps, BnMomentum: bnMomentum);
                stage.Add(newBlock(perBlock(s, b, o)));
            }
            stages[s] = stage;
        }
        return stages;
    }

    /// <summary>Runs the stem's output through the stages, block by block.</summary>
    public static Tensor Run(Tensor x, params ModuleList<Module<Tensor, Tensor>>[] stages) => Run(x, CnnCheckpoint.None, stages);

    /// <summary>Runs the stem's output through the stages, block by block; each stage (or each block) a checkpointed
    /// segment as <paramref name="checkpoint"/> says (<see cref="ActivationCheckpoint"/>: only its input is kept for backward).</summary>
    public static Tensor Run(Tensor x, CnnCheckpoint checkpoint, params ModuleList<Module<Tensor, Tensor>>[] stages)
    {
        foreach (var stage in stages)
            x = checkpoint == CnnCheckpoint.Stages ? ActivationCheckpoint.Run(h => RunBlocks(h, stage, false), x, stage)
                                                   : RunBlocks(x, stage, checkpoint == CnnCheckpoint.Blocks);
        return x;
    }

    static Tensor RunBlocks(Tensor x, ModuleList<Module<Tensor, Tensor>> stage, bool checkpointEach)
    {
        foreach (var block in stage)
        {
            // One scope per block: its intermediates that backward does not keep are freed at the block's end.
            using var scope = NewDisposeScope();
            x = (checkpointEach ? ActivationCheckpoint.Run(block.call, x, block) : block.call(x)).MoveToOuterDisposeScope();
        }
        return x;
    }

    /// <summary>A stem, checkpointed as one segment unless <paramref name="checkpoint"/> is none (it has no random ops).</summary>
    public static Tensor Stem(Module<Tensor, Tensor> stem, Tensor x, CnnCheckpoint checkpoint) =>
        checkpoint != CnnCheckpoint.None ? ActivationCheckpoint.Run(stem.call, x, stem) : stem.call(x);

    /// <summary>conv → BN → ReLU.</summary>
    public static Tensor ConvBnRelu(Module<Tensor, Tensor> conv, Module<Tensor, Tensor> bn, Tensor x) => functional.relu(bn.call(conv.call(x)));

    /// <summary>A block's tail: ReLU(shortcut(x) + branch), the shortcut the identity or a projection (1×1 conv → BN).</summary>
    public static Tensor Residual(Tensor x, Tensor branch, Module<Tensor, Tensor>? shortcutConv, Module<Tensor, Tensor>? shortcutBn) =>
        functional.relu((shortcutConv is null ? x : shortcutBn!.call(shortcutConv.call(x))) + branch);
}

/// <summary>Channel bookkeeping of PySlowFast ResNets (the reference's _compute_dim_in/_compute_dim_out).</summary>
public static class ResNetWidths
{
    /// <summary>Input channels of stage s (0-based): width for s=0; then the previous stage's output.</summary>
    public static int StageIn(ResNetBlock block, int width, int s) => block switch
    {
        ResNetBlock.Bottleneck => s == 0 ? width : width * 2 * (1 << s),
        _ => s == 0 ? width : width * (1 << (s - 1)),
    };

    public static int StageOut(ResNetBlock block, int width, int s) => block switch
    {
        ResNetBlock.Bottleneck => width * 4 * (1 << s),
        _ => width * (1 << s),
    };

    /// <summary>Bottleneck inner channels of stage s: groups·width·2^s.</summary>
    public static int StageInner(int width, int groups, int s) => groups * width * (1 << s);

    /// <summary>Channels of the pooled feature (the last stage's output): 2048 for the visual ResNet-50, 1024 for the audio one.</summary>
    public static int FeatureDim(ResNetBlock block, int width) => StageOut(block, width, 3);

    /// <summary>Blocks per stage of the reference's RESNET.DEPTH / AUDIO_RESNET.DEPTH.</summary>
    public static int[]? StageBlocksForDepth(int depth) => depth switch
    {
        18 => [2, 2, 2, 2],
        34 => [3, 4, 6, 3],
        50 => [3, 4, 6, 3],
        101 => [3, 4, 23, 3],
        _ => null,
    };
}
