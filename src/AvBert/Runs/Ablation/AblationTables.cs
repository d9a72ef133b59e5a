using AvBert.Runtime;

namespace AvBert.Runs;

/// <summary>The paper's ablations that `avbert ablate` reproduces: which config each row varies.</summary>
public enum AblationTable { Sharing, Negatives, Fusion }

/// <summary>The paper's top-1 / top-5 (%) for a row, when it reports one.</summary>
public sealed record PaperResult(double Top1, double Top5);

/// <summary>
/// One row of an ablation table: its folder name (<paramref name="Key"/>), its label, the <c>--set</c> overrides that make
/// it (applied after every other setting, so the row's keys always take its values), and the paper's numbers.
/// </summary>
public sealed record AblationRow(string Key, string Label, IReadOnlyList<string> Sets, PaperResult? Paper);

/// <summary>
/// The rows of each table, mapped onto our config keys (docs/model.md, docs/SPEC.md §6–§7, §9):
/// <list type="bullet">
/// <item>sharing: ALBERT's cross-layer sharing (<c>model.transformer.share_across_layers</c>) and the sharing across the
/// visual, audio and multimodal Transformers (<c>model.transformer.share_across_transformers</c>: none, all, partial);</item>
/// <item>negatives: MEP's negative sampler (<c>pretrain.sampler</c>);</item>
/// <item>fusion: <c>model.fusion</c> (early: only the multimodal Transformer; late: no multimodal Transformer).</item>
/// </list>
/// The paper's numbers are its Kinetics-Sounds ablations (top-1/top-5 after fine-tuning), as docs/SPEC.md §9 (sharing) and
/// §7 (negatives) list them; the rows it does not report (no sharing, partial sharing without cross-layer sharing,
/// CANS-Dissimilar, the fusion modes) have none.
/// </summary>
public static class AblationTables
{
    public static readonly IReadOnlyList<string> Names = ["sharing", "negatives", "fusion", "all"];

    /// <summary>The tables a TABLE argument names (<c>all</c>: every table); a user error (exit 2) for anything else.</summary>
    public static IReadOnlyList<AblationTable> Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "sharing" => [AblationTable.Sharing],
        "negatives" => [AblationTable.Negatives],
        "fusion" => [AblationTable.Fusion],
        "all" => [AblationTable.Sharing, AblationTable.Negatives, AblationTable.Fusion],
        _ => throw new UserError($"ablate: unknown table '{name}'. Fix: one of {string.Join(", ", Names)}."),
    };

    /// <summary>The rows of <paramref name="tables"/> that <paramref name="only"/> names (null: all); a user error for a name no table has.</summary>
    public static IReadOnlyList<(AblationTable Table, AblationRow Row)> Select(IReadOnlyList<AblationTable> tables, IReadOnlyList<string>? only)
    {
        var all = tables.SelectMany(t => Rows(t).Select(r => (Table: t, Row: r))).ToList();
        if (only is null || only.Count == 0) return all;
        foreach (var name in only)
            if (!all.Any(x => x.Row.Key == name))
                throw new UserError($"ablate: --rows {string.Join(",", only)}: '{name}' is not a row of {string.Join(", ", tables.Select(Name))}. " +
                                    $"Fix: rows are {string.Join(", ", all.Select(x => x.Row.Key))}.");
        return all.Where(x => only.Contains(x.Row.Key)).ToList();
    }

    public static string Name(AblationTable t) => t.ToString().ToLowerInvariant();

    public static IReadOnlyList<AblationRow> Rows(AblationTable t) => t switch
    {
        AblationTable.Sharing =>
        [
            Sharing("none", "no sharing", crossLayer: false, "none", null),
            Sharing("cross-layer", "cross-layer", crossLayer: true, "none", new(65.7, 89.9)),
            Sharing("cross-layer-all", "cross-layer + all cross-Transformer", crossLayer: true, "all", new(67.1, 92.3)),
            Sharing("cross-layer-partial", "cross-layer + partial low-rank (the paper's)", crossLayer: true, "partial", new(67.5, 92.3)),
            Sharing("partial", "partial low-rank, no cross-layer", crossLayer: false, "partial", null),
        ],
        AblationTable.Negatives =>
        [
            Sampler("cans-similar", "CANS-Similar (the paper's)", "cans_similar", new(67.5, 92.3)),
            Sampler("cans-dissimilar", "CANS-Dissimilar", "cans_dissimilar", null),
            Sampler("current-sequence", "Current-Sequence", "current_sequence", new(64.6, 89.8)),
            Sampler("current-minibatch", "Current-MiniBatch", "current_minibatch", new(65.5, 90.8)),
        ],
        AblationTable.Fusion =>
        [
            new("early", "early fusion", ["model.fusion=early"], null),
            new("mid", "mid fusion (the paper's)", ["model.fusion=mid"], null),
            new("late", "late fusion", ["model.fusion=late"], null),
        ],
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>Where the paper's numbers of a table come from (a line under the table).</summary>
    public static string PaperSource(AblationTable t) => t switch
    {
        AblationTable.Sharing => "paper: the parameter-sharing ablation, Kinetics-Sounds top-1/top-5 after fine-tuning (docs/SPEC.md §9); no sharing and partial without cross-layer sharing are not reported",
        AblationTable.Negatives => "paper: the negative-sampling ablation, Kinetics-Sounds top-1/top-5 (docs/SPEC.md §7); CANS-Dissimilar is not reported",
        _ => "paper: no fusion numbers are recorded in docs/SPEC.md, so none are shown",
    };

    static AblationRow Sharing(string key, string label, bool crossLayer, string acrossTransformers, PaperResult? paper) =>
        new(key, label, [$"model.transformer.share_across_layers={(crossLayer ? "true" : "false")}",
                         $"model.transformer.share_across_transformers={acrossTransformers}"], paper);

    static AblationRow Sampler(string key, string label, string sampler, PaperResult? paper) =>
        new(key, label, [$"pretrain.sampler={sampler}"], paper);
}
