namespace AvBert.Config;

// Defaults are the paper's / released checkpoint's numbers (SPEC.md §2, §5, §6).

/// <summary>Visual CNN: single-pathway 3D ResNet (SPEC §2).</summary>
public sealed record VisualCnnConfig
{
    /// <summary>Bottleneck blocks per stage (ResNet-50: 3/4/6/3).</summary>
    public int[] StageBlocks { get; init; } = [3, 4, 6, 3];
    /// <summary>Inner width of the first stage; stage s has width·2^s inner and 4·width·2^s output channels.</summary>
    public int WidthPerGroup { get; init; } = 64;
    /// <summary>Temporal kernel size of the first 1×1 conv of each block, per stage.</summary>
    public int[] TemporalKernels { get; init; } = [1, 1, 3, 3];
    public int[] SpatialStrides { get; init; } = [1, 2, 2, 2];
    public int StemTemporalKernel { get; init; } = 5;
    public int StemSpatialKernel { get; init; } = 7;
    public double BnEps { get; init; } = 1e-5;
    public double BnMomentum { get; init; } = 0.1;
    public bool ZeroInitFinalBn { get; init; } = true;
}

/// <summary>Audio CNN: 2D ResNet over log-mel spectrograms (SPEC §2).</summary>
public sealed record AudioCnnConfig
{
    public int[] StageBlocks { get; init; } = [3, 4, 6, 3];
    public int WidthPerGroup { get; init; } = 32;
    /// <summary>Stride of the 3×3 conv in the first block of each stage.</summary>
    public int[] Strides { get; init; } = [2, 2, 2, 2];
    /// <summary>Stem kernel length (a k×1 conv then a 1×k conv).</summary>
    public int StemKernel { get; init; } = 9;
    /// <summary>Per stage: replace the 3×3 conv by a 3×1 then 1×3 conv (each with BN+ReLU).</summary>
    public bool[] SeparableStages { get; init; } = [false, true, true, false];
    public double BnEps { get; init; } = 1e-5;
    public double BnMomentum { get; init; } = 0.1;
    public bool ZeroInitFinalBn { get; init; } = true;
}

public enum Fusion { Early, Mid, Late }

/// <summary>How Transformer weights are shared across Transformers (SPEC §6).</summary>
public enum CrossTransformerSharing { None, All, Partial }

/// <summary>Transformers and embeddings (SPEC §1, §5, §6).</summary>
public sealed record TransformerConfig
{
    public int HiddenSize { get; init; } = 768;
    public int NumHeads { get; init; } = 12;
    public int IntermediateSize { get; init; } = 3072;
    public int NumLayers { get; init; } = 6;
    public double HiddenDropout { get; init; } = 0.1;
    public double AttentionDropout { get; init; } = 0.1;
    public double LayerNormEps { get; init; } = 1e-12;
    public int MaxPositions { get; init; } = 22;
    public double InitializerRange { get; init; } = 0.02;
    /// <summary>ALBERT-style: one layer's weights reused by all layers of a Transformer.</summary>
    public bool ShareAcrossLayers { get; init; } = true;
    public CrossTransformerSharing ShareAcrossTransformers { get; init; } = CrossTransformerSharing.Partial;
    /// <summary>Rank O of the low-rank partial sharing.</summary>
    public int Rank { get; init; } = 128;
}

public sealed record ModelConfig
{
    public VisualCnnConfig Visual { get; init; } = new();
    public AudioCnnConfig Audio { get; init; } = new();
    public TransformerConfig Transformer { get; init; } = new();
    public Fusion Fusion { get; init; } = Fusion.Mid;
}
