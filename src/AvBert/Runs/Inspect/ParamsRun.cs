using AvBert.Config;
using AvBert.Model;

namespace AvBert.Runs;

/// <summary>One sharing setting's parameter counts; <paramref name="Configured"/>: the setting of the config (counted on the
/// built model; the other rows are computed).</summary>
public sealed record ParamsRow(string Name, long Transformer, long Cnn, long Embeddings, long Projections, bool Configured)
{
    public long Total => Transformer + Cnn + Embeddings + Projections;
}

/// <summary>What `params` prints: the configured model in one line, then a row per sharing setting of the paper.</summary>
public sealed record ParamsSummary(string Description, IReadOnlyList<ParamsRow> Rows);

/// <summary>`avbert params`: Transformer / CNN / embedding / total parameters for the sharing settings of SPEC §6.</summary>
public static class ParamsRun
{
    public static ParamsSummary Run(AvBertConfig cfg)
    {
        using var model = new AvBertModel(cfg.Model);
        var built = ParameterCounts.Of(model);
        var t = cfg.Model.Transformer;
        var cnns = (model.HasVisual ? $"visual CNN{(cfg.Model.Visual.Arch == VisualCnnArch.Slowfast ? " (SlowFast)" : "")} {built.VisualCnn:N0}" : "") + (model.HasVisual && model.HasAudio ? " + " : "") +
                   (model.HasAudio ? $"audio CNN {built.AudioCnn:N0}" : "");
        var only = cfg.Model.Modalities == Modalities.AudioVisual ? "" : $"{cfg.Model.Modalities.ToString().ToLowerInvariant()} only, ";
        var description = $"{only}fusion {cfg.Model.Fusion.ToString().ToLowerInvariant()}, D={t.HiddenSize}, {t.NumLayers} layers, " +
                          $"FFN {t.IntermediateSize}, rank {t.Rank}; {cnns}, " +
                          $"embeddings {built.Embeddings:N0}, projections+LN {built.Projections:N0}";
        var rows = new List<ParamsRow>();
        bool configuredListed = false;
        ParamsRow Row(string name, long transformer, bool configured) => new(name, transformer, built.Cnn, built.Embeddings, built.Projections, configured);
        foreach (var (name, crossLayer, sharing) in ParameterCounts.PaperSettings)
        {
            bool configured = t.ShareAcrossLayers == crossLayer && t.ShareAcrossTransformers == sharing;
            configuredListed |= configured;
            rows.Add(Row(name, configured ? built.Transformer : ParameterCounts.TransformerOf(ParameterCounts.WithSharing(cfg.Model, crossLayer, sharing)), configured));
        }
        if (!configuredListed)
            rows.Add(Row($"configured ({(t.ShareAcrossLayers ? "cross-layer + " : "")}{t.ShareAcrossTransformers.ToString().ToLowerInvariant()})", built.Transformer, true));
        return new ParamsSummary(description, rows);
    }
}
