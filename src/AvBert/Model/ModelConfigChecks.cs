using System.Runtime.CompilerServices;
using AvBert.Config;

namespace AvBert.Model;

/// <summary>
/// Checks of the model fields the general validator does not cover (the reference's assertions included). They run
/// when a config is loaded (registered in <see cref="ConfigValidator.ExtraChecks"/>) and again when a model is built
/// from a config made in code.
/// </summary>
public static class ModelConfigChecks
{
    static int registered;

    // Registered when the library loads, so that every config load (CLI, tests, other areas) runs the model checks.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) == 0)
            ConfigValidator.ExtraChecks.Add((c, check) => Check(c.Model, c.Data, check));
    }

    /// <summary>All checks of a model + data config (the general ones too); throws one <see cref="ConfigError"/> listing every problem.</summary>
    public static void Validate(ModelConfig model, DataConfig data)
    {
        Register();
        ConfigValidator.Validate(new AvBertConfig { Model = model, Data = data }, "model config");
    }

    public static void Check(ModelConfig m, DataConfig d, ConfigValidator.Checker check)
    {
        var v = m.Visual;
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

        var a = m.Audio;
        check(a.NumGroups >= 1 && a.WidthPerGroup % a.NumGroups == 0, "model.audio.num_groups", a.NumGroups,
            $"must be >= 1 and divide model.audio.width_per_group ({a.WidthPerGroup})");
        check(a.Dilations.Length == 4 && a.Dilations.All(x => x >= 1), "model.audio.dilations", a.Dilations, "must list 4 dilations >= 1");
        check(a.StemKernel >= 1 && a.StemKernel % 2 == 1, "model.audio.stem_kernel", a.StemKernel, "must be odd and >= 1");
        check(a.BnEps > 0, "model.audio.bn_eps", a.BnEps, "must be > 0");
        check(a.BnMomentum is >= 0 and <= 1, "model.audio.bn_momentum", a.BnMomentum, "must be in [0, 1]");

        check(m.Modalities == ModelModalities.AudioVisual || m.Fusion == Fusion.Late, "model.modalities", m.Modalities.ToString().ToLowerInvariant(),
            $"needs model.fusion: late with one modality (model.fusion is {m.Fusion.ToString().ToLowerInvariant()})");
        var t = m.Transformer;
        check(Activations.Names.Contains(t.HiddenAct), "model.transformer.hidden_act", t.HiddenAct, $"must be one of {string.Join(", ", Activations.Names)}");
        check(t.NumLayerGroups >= 1 && t.NumLayerGroups <= t.NumLayers, "model.transformer.num_layer_groups", t.NumLayerGroups,
            $"must be between 1 and model.transformer.num_layers ({t.NumLayers})");
        check(t.OrthogonalRebaseEvery >= 0, "model.transformer.orthogonal_rebase_every", t.OrthogonalRebaseEvery, "must be >= 0 (0 = never)");
        check(t.InnerLayersPerGroup >= 1, "model.transformer.inner_layers_per_group", t.InnerLayersPerGroup, "must be >= 1");
        check(t.TypeVocabSize >= 2, "model.transformer.type_vocab_size", t.TypeVocabSize, "must be >= 2 (visual and audio)");
        check(t.LayerNormEps > 0, "model.transformer.layer_norm_eps", t.LayerNormEps, "must be > 0");
        check(t.InitializerRange >= 0, "model.transformer.initializer_range", t.InitializerRange, "must be >= 0");
        check(t.MaxPositions >= 1, "model.transformer.max_positions", t.MaxPositions, "must be >= 1");
    }
}
