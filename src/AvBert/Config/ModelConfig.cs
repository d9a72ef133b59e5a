namespace AvBert.Config;

// Defaults are the paper's / released checkpoint's numbers (SPEC.md §2, §5, §6).
// Fields marked "reference:" mirror a key of the authors' yacs config so that `avbert convert` can map it.

/// <summary>Residual block type of a ResNet stage (reference: TRANS_FUNC).</summary>
public enum ResNetBlock { Bottleneck, Basic }

/// <summary>Which visual CNN (model.visual.arch).</summary>
public enum VisualCnnArch
{
    /// <summary>The single-pathway 3D ResNet of the authors' released code and checkpoint.</summary>
    Resnet,
    /// <summary>SlowFast (Feichtenhofer et al., ICCV 2019), the network the paper names; our extension of the released code.</summary>
    Slowfast,
}

/// <summary>
/// The SlowFast visual CNN's own settings: PySlowFast's SLOWFAST.* keys with their defaults, and the temporal kernels of
/// its SlowFast-R50 (slow: stem 1, res2–res5 1/1/3/3; fast: stem 5, res2–res5 3/3/3/3). The widths, depth, groups,
/// strides, dilations and BN settings of model.visual apply to both pathways, and model.visual.pool_window is the slow
/// pathway's window (the fast one's spans α times the frames); model.visual.temporal_kernels, stem_temporal_kernel and
/// temporal_kernel_blocks are the single-pathway ResNet's.
/// </summary>
public sealed record SlowFastConfig
{
    /// <summary>Frame-rate ratio α: the fast pathway sees the clip's F frames, the slow one F/α of them (reference: SLOWFAST.ALPHA).</summary>
    public int Alpha { get; init; } = 8;
    /// <summary>Channel ratio β⁻¹: the fast pathway has 1/β⁻¹ of the slow pathway's channels (reference: SLOWFAST.BETA_INV).</summary>
    public int BetaInv { get; init; } = 8;
    /// <summary>Temporal kernel of the fast→slow lateral convolutions (reference: SLOWFAST.FUSION_KERNEL_SZ).</summary>
    public int FusionKernel { get; init; } = 5;
    /// <summary>A lateral maps the fast pathway's C channels to this many times C (reference: SLOWFAST.FUSION_CONV_CHANNEL_RATIO).</summary>
    public int FusionChannelRatio { get; init; } = 2;
    public int SlowStemTemporalKernel { get; init; } = 1;
    public int FastStemTemporalKernel { get; init; } = 5;
    /// <summary>Temporal kernel of the first conv of every block, per stage (res2–res5).</summary>
    public int[] SlowTemporalKernels { get; init; } = [1, 1, 3, 3];
    public int[] FastTemporalKernels { get; init; } = [3, 3, 3, 3];
}

/// <summary>Visual CNN: single-pathway 3D ResNet (SPEC §2), or SlowFast (<see cref="Arch"/>).</summary>
public sealed record VisualCnnConfig
{
    /// <summary>resnet (default: the authors' single pathway) or slowfast (<see cref="SlowFastConfig"/>).</summary>
    public VisualCnnArch Arch { get; init; } = VisualCnnArch.Resnet;
    /// <summary>The SlowFast settings (used with arch slowfast).</summary>
    public SlowFastConfig Slowfast { get; init; } = new();
    /// <summary>Blocks per stage (ResNet-50: 3/4/6/3; reference: RESNET.DEPTH 18/34/50/101).</summary>
    public int[] StageBlocks { get; init; } = [3, 4, 6, 3];
    /// <summary>bottleneck (1×1, 3×3, 1×1) or basic (3×3, 3×3) blocks (reference: RESNET.TRANS_FUNC).</summary>
    public ResNetBlock Block { get; init; } = ResNetBlock.Bottleneck;
    /// <summary>Stem width; stage s has num_groups·width·2^s inner and 4·width·2^s output channels (bottleneck).</summary>
    public int WidthPerGroup { get; init; } = 64;
    /// <summary>Groups of the 3×3 conv (1 = ResNet, &gt;1 = ResNeXt; reference: RESNET.NUM_GROUPS).</summary>
    public int NumGroups { get; init; } = 1;
    /// <summary>Temporal kernel size of the first conv of each block, per stage.</summary>
    public int[] TemporalKernels { get; init; } = [1, 1, 3, 3];
    /// <summary>Per stage, how many leading blocks use the temporal kernel (the rest use 1); empty = all blocks
    /// (reference: RESNET.NUM_BLOCK_TEMP_KERNEL).</summary>
    public int[] TemporalKernelBlocks { get; init; } = [];
    public int[] SpatialStrides { get; init; } = [1, 2, 2, 2];
    /// <summary>Spatial dilation of the 3×3 conv, per stage (reference: RESNET.SPATIAL_DILATIONS).</summary>
    public int[] SpatialDilations { get; init; } = [1, 1, 1, 1];
    /// <summary>Put the stage stride on the first 1×1 conv instead of the 3×3 (reference: RESNET.STRIDE_1X1).</summary>
    public bool StrideOnFirstConv { get; init; } = false;
    public int StemTemporalKernel { get; init; } = 5;
    public int StemSpatialKernel { get; init; } = 7;
    public double BnEps { get; init; } = 1e-5;
    public double BnMomentum { get; init; } = 0.1;
    public bool ZeroInitFinalBn { get; init; } = true;
    /// <summary>Pooling of the last feature map, the reference's head: average over this [T, H, W] window at stride 1,
    /// then over the positions that remain (a window dimension larger than the map is clamped to it). The reference
    /// sizes it [NUM_FRAMES // 2, ceil(CROP_SIZE / 32), ceil(CROP_SIZE / 32)] and `convert` sets it so; it equals the
    /// global mean when it covers the map. Empty (the default) = the global mean.</summary>
    public int[] PoolWindow { get; init; } = [];
}

/// <summary>Audio CNN: 2D ResNet over log-mel spectrograms (SPEC §2).</summary>
public sealed record AudioCnnConfig
{
    public int[] StageBlocks { get; init; } = [3, 4, 6, 3];
    public ResNetBlock Block { get; init; } = ResNetBlock.Bottleneck;
    public int WidthPerGroup { get; init; } = 32;
    public int NumGroups { get; init; } = 1;
    /// <summary>Stride of the 3×3 conv in the first block of each stage.</summary>
    public int[] Strides { get; init; } = [2, 2, 2, 2];
    /// <summary>Dilation of the 3×3 conv, per stage (reference: AUDIO_RESNET.DILATIONS).</summary>
    public int[] Dilations { get; init; } = [1, 1, 1, 1];
    /// <summary>Put the stage stride on the first 1×1 conv (reference: AUDIO_RESNET.STRIDE_1X1, which strides only the time axis
    /// there and so cannot run with strides &gt; 1; here it strides both axes).</summary>
    public bool StrideOnFirstConv { get; init; } = false;
    /// <summary>Stem kernel length (a k×1 conv then a 1×k conv).</summary>
    public int StemKernel { get; init; } = 9;
    /// <summary>Per stage: replace the 3×3 conv by a 3×1 then 1×3 conv (each with BN+ReLU). The reference does this in
    /// its first two stages (PySlowFast's s2 and s3).</summary>
    public bool[] SeparableStages { get; init; } = [true, true, false, false];
    public double BnEps { get; init; } = 1e-5;
    public double BnMomentum { get; init; } = 0.1;
    public bool ZeroInitFinalBn { get; init; } = true;
}

public enum Fusion { Early, Mid, Late }

/// <summary>How Transformer weights are shared across the visual, audio and multimodal Transformers (SPEC §6).</summary>
public enum CrossTransformerSharing
{
    /// <summary>Every Transformer has its own weights.</summary>
    None,
    /// <summary>One set of layer weights serves every Transformer.</summary>
    All,
    /// <summary>The paper's method: each weight is U·(normalize(V_iᵀx)·Σ_i)+b with U, b shared and V_i, Σ_i private to Transformer i.</summary>
    Partial,
    /// <summary>Nothing shared, but each Transformer's weights are factorised as U·(normalize(Vᵀx)·Σ)+b
    /// (the reference's SHARING_ACROSS_MODELS=false with USE_DECOMPOSITION=true).</summary>
    LowRank,
}

/// <summary>Map from a skew-symmetric matrix to the orthogonal Σ (reference: TRANSFORMER.ORTHOGONAL_MODE).</summary>
public enum OrthogonalMap { Expm, Cayley }

/// <summary>Feed-forward activation of the Transformer layers (reference: TRANSFORMER.HIDDEN_ACT). In YAML: gelu (erf form),
/// gelu_new (tanh approximation), relu, swish, mish, identity.</summary>
public enum HiddenActivation { Gelu, GeluNew, Relu, Swish, Mish, Identity }

/// <summary>Initial skew-symmetric parameter of Σ (reference: TRANSFORMER.ORTHOGONAL_INIT).</summary>
public enum OrthogonalInit { Cayley, Henaff }

/// <summary>Transformers and embeddings (SPEC §1, §5, §6).</summary>
public sealed record TransformerConfig
{
    public int HiddenSize { get; init; } = 768;
    public int NumHeads { get; init; } = 12;
    public int IntermediateSize { get; init; } = 3072;
    public int NumLayers { get; init; } = 6;
    /// <summary>Feed-forward activation: gelu (erf), gelu_new (tanh approximation), relu, swish, mish, identity.</summary>
    public HiddenActivation HiddenAct { get; init; } = HiddenActivation.Gelu;
    public double HiddenDropout { get; init; } = 0.1;
    public double AttentionDropout { get; init; } = 0.1;
    public double LayerNormEps { get; init; } = 1e-12;
    public int MaxPositions { get; init; } = 22;
    /// <summary>Rows of the modality (token type) embedding of the multimodal Transformer.</summary>
    public int TypeVocabSize { get; init; } = 2;
    public double InitializerRange { get; init; } = 0.02;
    /// <summary>ALBERT-style: one layer's weights reused by all layers of a Transformer.</summary>
    public bool ShareAcrossLayers { get; init; } = true;
    /// <summary>With cross-layer sharing: number of distinct layer groups (ALBERT num_hidden_groups; layers are split evenly).</summary>
    public int NumLayerGroups { get; init; } = 1;
    /// <summary>With cross-layer sharing: distinct layers applied in a row inside each group (ALBERT inner_group_num).</summary>
    public int InnerLayersPerGroup { get; init; } = 1;
    public CrossTransformerSharing ShareAcrossTransformers { get; init; } = CrossTransformerSharing.Partial;
    /// <summary>Rank O of the low-rank partial sharing.</summary>
    public int Rank { get; init; } = 128;
    public OrthogonalMap OrthogonalMap { get; init; } = OrthogonalMap.Expm;
    public OrthogonalInit OrthogonalInit { get; init; } = OrthogonalInit.Cayley;
    /// <summary>Dynamic trivialization (reference: ORTHOGONAL_MODE dtriv, ORTHOGONAL_K): every this many optimiser steps,
    /// before the step, base ← Σ and the free parameter ← 0, and every 100th such re-basing base is projected back onto
    /// the orthogonal matrices (UVᵀ of its SVD); 0 (default) = never (the reference's static mode).</summary>
    public int OrthogonalRebaseEvery { get; init; } = 0;
    /// <summary>BOS_m = LayerNorm(bos_m + mean_t(x_t + sinusoid_t)) instead of the plain learned vector (reference: USE_MEAN_POOLING).</summary>
    public bool BosMeanPooling { get; init; } = false;
}

public sealed record ModelConfig
{
    public VisualCnnConfig Visual { get; init; } = new();
    public AudioCnnConfig Audio { get; init; } = new();
    public TransformerConfig Transformer { get; init; } = new();
    public Fusion Fusion { get; init; } = Fusion.Mid;
    /// <summary>audio_visual (default), or visual / audio alone (with fusion late; `convert`, `forward` and `params` run these).</summary>
    public Modalities Modalities { get; init; } = Modalities.AudioVisual;
}

/// <summary>
/// Checks of the model section (the reference's assertions included). <see cref="ConfigValidator"/> runs them when a
/// config is loaded, and <see cref="ConfigValidator.ValidateModel"/> (without the data section) when a model is built
/// from a config made in code.
/// </summary>
static class ModelConfigChecks
{
    /// <summary>With <paramref name="data"/>, also the model's fields that must fit the data section's.</summary>
    internal static void Check(ModelConfig m, DataConfig? data, ConfigValidator.Checker check)
    {
        var v = m.Visual;
        var a = m.Audio;
        var t = m.Transformer;
        check(v.StageBlocks.Length == 4 && v.StageBlocks.All(b => b >= 1), "model.visual.stage_blocks", v.StageBlocks, "must list 4 stages of at least 1 block");
        check(v.TemporalKernels.Length == 4 && v.TemporalKernels.All(k => k % 2 == 1), "model.visual.temporal_kernels", v.TemporalKernels, "must list 4 odd kernel sizes");
        check(v.SpatialStrides.Length == 4 && v.SpatialStrides.All(s => s >= 1), "model.visual.spatial_strides", v.SpatialStrides, "must list 4 strides >= 1");
        check(v.WidthPerGroup >= 1, "model.visual.width_per_group", v.WidthPerGroup, "must be >= 1");
        check(a.StageBlocks.Length == 4 && a.StageBlocks.All(b => b >= 1), "model.audio.stage_blocks", a.StageBlocks, "must list 4 stages of at least 1 block");
        check(a.Strides.Length == 4 && a.Strides.All(s => s >= 1), "model.audio.strides", a.Strides, "must list 4 strides >= 1");
        check(a.SeparableStages.Length == 4, "model.audio.separable_stages", a.SeparableStages, "must list 4 booleans");
        check(a.WidthPerGroup >= 1, "model.audio.width_per_group", a.WidthPerGroup, "must be >= 1");
        check(t.HiddenSize >= 1 && t.NumHeads >= 1 && t.HiddenSize % t.NumHeads == 0, "model.transformer.hidden_size", t.HiddenSize,
            $"must be a positive multiple of model.transformer.num_heads ({t.NumHeads})");
        check(t.NumLayers >= 1, "model.transformer.num_layers", t.NumLayers, "must be >= 1");
        check(t.IntermediateSize >= 1, "model.transformer.intermediate_size", t.IntermediateSize, "must be >= 1");
        check(t.HiddenDropout is >= 0 and < 1, "model.transformer.hidden_dropout", t.HiddenDropout, "must be in [0, 1)");
        check(t.AttentionDropout is >= 0 and < 1, "model.transformer.attention_dropout", t.AttentionDropout, "must be in [0, 1)");
        check(t.Rank >= 1, "model.transformer.rank", t.Rank, "must be >= 1");

        check(v.NumGroups >= 1 && v.WidthPerGroup % v.NumGroups == 0, "model.visual.num_groups", v.NumGroups,
            $"must be >= 1 and divide model.visual.width_per_group ({v.WidthPerGroup})");
        check(v.TemporalKernelBlocks.Length == 0 ||
              (v.TemporalKernelBlocks.Length == 4 && v.TemporalKernelBlocks.Select((n, s) => n >= 0 && v.StageBlocks.Length == 4 && n <= v.StageBlocks[s]).All(x => x)),
            "model.visual.temporal_kernel_blocks", v.TemporalKernelBlocks,
            "must be empty (all blocks) or list 4 counts, each between 0 and that stage's model.visual.stage_blocks");
        check(v.SpatialDilations.Length == 4 && v.SpatialDilations.All(x => x >= 1), "model.visual.spatial_dilations", v.SpatialDilations, "must list 4 dilations >= 1");
        check(v.StemTemporalKernel >= 1 && v.StemTemporalKernel % 2 == 1, "model.visual.stem_temporal_kernel", v.StemTemporalKernel, "must be odd and >= 1");
        check(v.StemSpatialKernel >= 1 && v.StemSpatialKernel % 2 == 1, "model.visual.stem_spatial_kernel", v.StemSpatialKernel, "must be odd and >= 1");
        check(v.PoolWindow.Length == 0 || (v.PoolWindow.Length == 3 && v.PoolWindow.All(k => k >= 1)), "model.visual.pool_window", v.PoolWindow,
            "must be empty (the global mean) or list 3 sizes >= 1 (frames, height, width)");
        check(v.BnEps > 0, "model.visual.bn_eps", v.BnEps, "must be > 0");
        check(v.BnMomentum is >= 0 and <= 1, "model.visual.bn_momentum", v.BnMomentum, "must be in [0, 1]");

        if (v.Arch == VisualCnnArch.Slowfast) CheckSlowFast(v, check);

        check(a.NumGroups >= 1 && a.WidthPerGroup % a.NumGroups == 0, "model.audio.num_groups", a.NumGroups,
            $"must be >= 1 and divide model.audio.width_per_group ({a.WidthPerGroup})");
        check(a.Dilations.Length == 4 && a.Dilations.All(x => x >= 1), "model.audio.dilations", a.Dilations, "must list 4 dilations >= 1");
        check(a.StemKernel >= 1 && a.StemKernel % 2 == 1, "model.audio.stem_kernel", a.StemKernel, "must be odd and >= 1");
        check(a.BnEps > 0, "model.audio.bn_eps", a.BnEps, "must be > 0");
        check(a.BnMomentum is >= 0 and <= 1, "model.audio.bn_momentum", a.BnMomentum, "must be in [0, 1]");

        // A YAML number or a list ("visual, audio") reads as a set of flags: only the three named sets are models.
        check(Enum.IsDefined(m.Modalities), "model.modalities", m.Modalities.ToString().ToLowerInvariant(), "must be one of audio_visual, visual, audio");
        check(!Enum.IsDefined(m.Modalities) || m.Modalities == Modalities.AudioVisual || m.Fusion == Fusion.Late, "model.modalities", m.Modalities.ToString().ToLowerInvariant(),
            $"needs model.fusion: late with one modality (model.fusion is {m.Fusion.ToString().ToLowerInvariant()})");
        check(t.NumLayerGroups >= 1 && t.NumLayerGroups <= t.NumLayers, "model.transformer.num_layer_groups", t.NumLayerGroups,
            $"must be between 1 and model.transformer.num_layers ({t.NumLayers})");
        check(t.OrthogonalRebaseEvery >= 0, "model.transformer.orthogonal_rebase_every", t.OrthogonalRebaseEvery, "must be >= 0 (0 = never)");
        check(t.InnerLayersPerGroup >= 1, "model.transformer.inner_layers_per_group", t.InnerLayersPerGroup, "must be >= 1");
        check(t.TypeVocabSize >= 2, "model.transformer.type_vocab_size", t.TypeVocabSize, "must be >= 2 (visual and audio)");
        check(t.LayerNormEps > 0, "model.transformer.layer_norm_eps", t.LayerNormEps, "must be > 0");
        check(t.InitializerRange >= 0, "model.transformer.initializer_range", t.InitializerRange, "must be >= 0");
        check(t.MaxPositions >= 1, "model.transformer.max_positions", t.MaxPositions, "must be >= 1");

        if (data is not { } d) return;
        check(t.MaxPositions >= d.SequenceLength + 1, "model.transformer.max_positions", t.MaxPositions,
            $"must be at least data.sequence_length + 1 ({d.SequenceLength + 1}): one position per clip plus BOS");
        var slowfast = v.Slowfast;
        check(v.Arch != VisualCnnArch.Slowfast || m.Modalities == Modalities.Audio || slowfast.Alpha < 1 || d.NumFrames % slowfast.Alpha == 0,
            "model.visual.slowfast.alpha", slowfast.Alpha, $"must divide data.num_frames ({d.NumFrames}): the slow pathway sees num_frames / alpha frames");
    }

    /// <summary>model.visual.arch: slowfast (PySlowFast builds what these allow; data.num_frames is checked against α by <see cref="Check"/> when it has the data section).</summary>
    static void CheckSlowFast(VisualCnnConfig v, ConfigValidator.Checker check)
    {
        var sf = v.Slowfast;
        check(sf.Alpha >= 1, "model.visual.slowfast.alpha", sf.Alpha, "must be >= 1 (the slow pathway sees every alpha-th frame)");
        check(sf.BetaInv >= 1 && v.WidthPerGroup % sf.BetaInv == 0, "model.visual.slowfast.beta_inv", sf.BetaInv,
            $"must be >= 1 and divide model.visual.width_per_group ({v.WidthPerGroup}): the fast pathway is width_per_group / beta_inv wide");
        check(sf.FusionKernel >= 1 && sf.FusionKernel % 2 == 1, "model.visual.slowfast.fusion_kernel", sf.FusionKernel,
            "must be odd and >= 1 (the lateral convolution must give the slow pathway's frame count)");
        check(sf.FusionChannelRatio >= 1, "model.visual.slowfast.fusion_channel_ratio", sf.FusionChannelRatio, "must be >= 1");
        check(sf.SlowStemTemporalKernel >= 1 && sf.SlowStemTemporalKernel % 2 == 1, "model.visual.slowfast.slow_stem_temporal_kernel", sf.SlowStemTemporalKernel, "must be odd and >= 1");
        check(sf.FastStemTemporalKernel >= 1 && sf.FastStemTemporalKernel % 2 == 1, "model.visual.slowfast.fast_stem_temporal_kernel", sf.FastStemTemporalKernel, "must be odd and >= 1");
        check(sf.SlowTemporalKernels.Length == 4 && sf.SlowTemporalKernels.All(k => k >= 1 && k % 2 == 1), "model.visual.slowfast.slow_temporal_kernels", sf.SlowTemporalKernels, "must list 4 odd kernel sizes");
        check(sf.FastTemporalKernels.Length == 4 && sf.FastTemporalKernels.All(k => k >= 1 && k % 2 == 1), "model.visual.slowfast.fast_temporal_kernels", sf.FastTemporalKernels, "must list 4 odd kernel sizes");
        check(v.Block == ResNetBlock.Bottleneck, "model.visual.block", v.Block.ToString().ToLowerInvariant(),
            "must be bottleneck with model.visual.arch: slowfast (PySlowFast's SlowFast is built of bottleneck blocks)");
        check(v.TemporalKernelBlocks.Length == 0, "model.visual.temporal_kernel_blocks", v.TemporalKernelBlocks,
            "must be empty with model.visual.arch: slowfast (every block uses model.visual.slowfast.slow_temporal_kernels / fast_temporal_kernels)");
    }
}
