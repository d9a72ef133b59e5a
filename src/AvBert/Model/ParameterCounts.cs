using AvBert.Config;

namespace AvBert.Model;

/// <summary>Parameter counts by part of the model (each tensor once; buffers such as BN statistics and Σ's base excluded).</summary>
public sealed record ParameterBreakdown(long Transformer, long VisualCnn, long AudioCnn, long Embeddings, long Projections)
{
    public long Cnn => VisualCnn + AudioCnn;
    public long Total => Transformer + Cnn + Embeddings + Projections;
}

/// <summary>
/// Counts of SPEC §6. <see cref="Of"/> counts a built model; <see cref="TransformerOf"/> computes the Transformer count
/// of any sharing setting without building it (the tests pin the two to each other in every mode).
/// </summary>
public static class ParameterCounts
{
    /// <summary>The four settings of SPEC §6's table, in its order.</summary>
    public static readonly IReadOnlyList<(string Name, bool CrossLayer, CrossTransformerSharing Sharing)> PaperSettings =
    [
        ("none", false, CrossTransformerSharing.None),
        ("cross-layer", true, CrossTransformerSharing.None),
        ("cross-layer + all cross-Transformer", true, CrossTransformerSharing.All),
        ("cross-layer + partial low-rank", true, CrossTransformerSharing.Partial),
    ];

    public static ParameterBreakdown Of(AvBertModel model)
    {
        long transformer = 0, visual = 0, audio = 0, embeddings = 0, projections = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            long n = p.numel();
            var head = name[..name.IndexOf('.')];
            switch (head)
            {
                case "visual_cnn": visual += n; break;
                case "audio_cnn": audio += n; break;
                case "visual_projection" or "visual_norm" or "audio_projection" or "audio_norm": projections += n; break;
                case "bos" or "visual_embeddings" or "audio_embeddings" or "multimodal_embeddings": embeddings += n; break;
                default: transformer += n; break;
            }
        }
        return new ParameterBreakdown(transformer, visual, audio, embeddings, projections);
    }

    /// <summary>Transformer parameters (all stacks, each tensor once) of <paramref name="model"/>'s settings.</summary>
    public static long TransformerOf(ModelConfig model)
    {
        var t = model.Transformer;
        long d = t.HiddenSize, inner = t.IntermediateSize;
        long distinct = t.ShareAcrossLayers ? (long)t.NumLayerGroups * t.InnerLayersPerGroup : t.NumLayers;
        long total = 0;
        foreach (var (_, _, lowRank) in TransformerSharing.Plan(model))
        {
            long Dense(long n, long m) => lowRank is null
                ? n * m + m
                : lowRank.Transformers.Count * (n * lowRank.Rank + (long)lowRank.Rank * lowRank.Rank) + lowRank.Rank * m + m;
            long layer = 4 * Dense(d, d) + Dense(d, inner) + Dense(inner, d) + 2 * 2 * d;
            total += distinct * layer;
        }
        return total;
    }

    /// <summary><paramref name="model"/> with another sharing setting.</summary>
    public static ModelConfig WithSharing(ModelConfig model, bool crossLayer, CrossTransformerSharing sharing) =>
        model with { Transformer = model.Transformer with { ShareAcrossLayers = crossLayer, ShareAcrossTransformers = sharing } };
}
