using AvBert.Config;

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
