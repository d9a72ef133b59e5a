namespace AvBert.Config;

/// <summary>
/// Checks of the model section (the reference's assertions included). <see cref="ConfigValidator"/> runs them when a
/// config is loaded, and <see cref="ConfigValidator.ValidateModel"/> when a model is built from a config made in code.
/// </summary>
static class ModelConfigChecks
{
    public static void Check(ModelConfig m, ConfigValidator.Checker check)
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

        check(m.Modalities == ModelModalities.AudioVisual || m.Fusion == Fusion.Late, "model.modalities", m.Modalities.ToString().ToLowerInvariant(),
            $"needs model.fusion: late with one modality (model.fusion is {m.Fusion.ToString().ToLowerInvariant()})");
        check(t.NumLayerGroups >= 1 && t.NumLayerGroups <= t.NumLayers, "model.transformer.num_layer_groups", t.NumLayerGroups,
            $"must be between 1 and model.transformer.num_layers ({t.NumLayers})");
        check(t.OrthogonalRebaseEvery >= 0, "model.transformer.orthogonal_rebase_every", t.OrthogonalRebaseEvery, "must be >= 0 (0 = never)");
        check(t.InnerLayersPerGroup >= 1, "model.transformer.inner_layers_per_group", t.InnerLayersPerGroup, "must be >= 1");
        check(t.TypeVocabSize >= 2, "model.transformer.type_vocab_size", t.TypeVocabSize, "must be >= 2 (visual and audio)");
        check(t.LayerNormEps > 0, "model.transformer.layer_norm_eps", t.LayerNormEps, "must be > 0");
        check(t.InitializerRange >= 0, "model.transformer.initializer_range", t.InitializerRange, "must be >= 0");
        check(t.MaxPositions >= 1, "model.transformer.max_positions", t.MaxPositions, "must be >= 1");
    }

    /// <summary>model.visual.arch: slowfast (PySlowFast builds what these allow; data.num_frames is checked against α by <see cref="ConfigValidator"/>).</summary>
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
