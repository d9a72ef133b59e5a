using System.Globalization;
using System.Text;
using System.Text.Json;
using AvBert.Downstream.Probing;
using AvBert.Storage;

namespace AvBert.Runs;

/// <summary>One row's statistics over the seeds done: mean and sample standard deviation of each metric.</summary>
public sealed record AblationRowStats(AblationRow Row, IReadOnlyList<AblationCellResult> Cells)
{
    public int Seeds => Cells.Count;
    public double Mean(string metric) => Values(metric).DefaultIfEmpty(double.NaN).Average();
    /// <summary>Sample standard deviation (n − 1); NaN with fewer than 2 seeds.</summary>
    public double Std(string metric)
    {
        var v = Values(metric).ToList();
        return v.Count < 2 ? double.NaN : CrossValidation.SampleStd(v);
    }
    public IEnumerable<double> Values(string metric) => Cells.Where(c => c.Metrics.ContainsKey(metric)).Select(c => c.Metrics[metric]);
}

/// <summary>
/// The outputs of `ablate` in DIR: table.md (one Markdown table per ablation: mean ± std over seeds, parameter counts for
/// the sharing table, the paper's numbers), results.json (the same with every seed's numbers) and TABLE.png (bars of the
/// means). Written atomically after every cell, so they always describe the cells finished so far.
/// </summary>
public static class AblationReport
{
    public const string TableFile = "table.md";
    public const string ResultsFile = "results.json";

    /// <summary>The metrics shown in the tables, in order, with their column names (results.json has every metric).</summary>
    public static readonly IReadOnlyList<(string Key, string Name)> Columns =
    [
        ("av_probe", "AV probe"), ("visual_probe", "visual probe"), ("audio_probe", "audio probe"), ("av_cnn_probe", "AV probe (CNN features)"), ("a2v_r1", "A→V R@1"),
        ("linear_top1", "linear top-1"), ("linear_top5", "linear top-5"), ("finetune_top1", "fine-tune top-1"), ("finetune_top5", "fine-tune top-5"),
    ];

    public static string PngFile(AblationTable t) => AblationTables.Name(t) + ".png";

    public static IReadOnlyList<AblationRowStats> Stats(AblationTable table, IReadOnlyList<AblationCellResult> results) =>
        AblationTables.Rows(table)
            .Select(r => new AblationRowStats(r, results.Where(c => c.Table == AblationTables.Name(table) && c.Row == r.Key).OrderBy(c => c.Seed).ToList()))
            .ToList();

    public static void Write(AblationOptions o, IReadOnlyList<AblationTable> tables, IReadOnlyList<AblationCellResult> results)
    {
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, TableFile), Markdown(o, tables, results));
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, ResultsFile), Results(o, tables, results));
        foreach (var t in tables)
        {
            var stats = Stats(t, results).Where(s => s.Seeds > 0).ToList();
            var columns = ColumnsOf(results);
            if (stats.Count == 0 || columns.Count == 0) continue;
            var series = columns.Select(c => (c.Name, stats.Select(s => s.Mean(c.Key)).Select(v => double.IsNaN(v) ? 0 : v).ToArray())).ToList();
            double? chance = o.ToyAv ? 1.0 / new Synthetic.ToyAvOptions().NumClasses : null;
            ProbePlots.SaveBars(Path.Combine(o.OutDir, PngFile(t)), $"ablate {AblationTables.Name(t)}: mean over seeds ({Describe(o)})",
                                stats.Select(s => s.Row.Key).ToList(), series, chance, width: 1100);
        }
    }

    static List<(string Key, string Name)> ColumnsOf(IReadOnlyList<AblationCellResult> results) =>
        Columns.Where(c => results.Any(r => r.Metrics.ContainsKey(c.Key))).ToList();

    static string Describe(AblationOptions o)
    {
        return $"{o.Data}, preset {o.Preset}, {(o.StepsPerCell is { } n ? $"{n} pretraining steps" : "the config's pretraining steps")}, " +
               $"{o.Protocol.ToString().ToLowerInvariant()}{(o.Downstream is null ? (o.ToyAv ? "" : " on its own test split") : $" on {o.Downstream}")}";
    }

    static string Percent(double mean, double std) =>
        double.IsNaN(mean) ? "—" : double.IsNaN(std)
            ? string.Create(CultureInfo.InvariantCulture, $"{100 * mean:0.0} %")
            : string.Create(CultureInfo.InvariantCulture, $"{100 * mean:0.0} ± {100 * std:0.0} %");

    /// <summary>table.md (also what the console shows).</summary>
    public static string Markdown(AblationOptions o, IReadOnlyList<AblationTable> tables, IReadOnlyList<AblationCellResult> results)
    {
        var sb = new StringBuilder();
        var columns = ColumnsOf(results);
        foreach (var t in tables)
        {
            var stats = Stats(t, results);
            sb.Append($"## {AblationTables.Name(t)}\n\n");
            sb.Append($"{Describe(o)}; mean ± std over the seeds done (of {o.Seeds})\n\n");
            var head = new List<string> { "row", "seeds" };
            if (t == AblationTable.Sharing) head.AddRange(["Transformer params", "total params"]);
            head.AddRange(columns.Select(c => c.Name));
            head.Add("paper top-1 / top-5");
            sb.Append("| " + string.Join(" | ", head) + " |\n");
            sb.Append("|" + string.Concat(head.Select((_, i) => i < 2 ? "---|" : "---:|")) + "\n");
            foreach (var s in stats.Where(s => s.Seeds > 0 || o.Rows is null || o.Rows.Contains(s.Row.Key)))
            {
                var cells = new List<string> { s.Row.Label, s.Seeds.ToString(CultureInfo.InvariantCulture) };
                if (t == AblationTable.Sharing)
                {
                    var c = s.Cells.FirstOrDefault();
                    cells.Add(c is null ? "—" : c.TransformerParameters.ToString("N0", CultureInfo.InvariantCulture));
                    cells.Add(c is null ? "—" : c.TotalParameters.ToString("N0", CultureInfo.InvariantCulture));
                }
                cells.AddRange(columns.Select(c => Percent(s.Mean(c.Key), s.Std(c.Key))));
                cells.Add(s.Row.Paper is { } p ? string.Create(CultureInfo.InvariantCulture, $"{p.Top1:0.0} / {p.Top5:0.0}") : "—");
                sb.Append("| " + string.Join(" | ", cells) + " |\n");
            }
            sb.Append($"\n{AblationTables.PaperSource(t)}.\n\n");
        }
        return sb.ToString();
    }

    /// <summary>results.json: the settings, and per table and row its config keys, parameter counts, paper numbers, mean and std of each metric and every seed's cell.</summary>
    public static string Results(AblationOptions o, IReadOnlyList<AblationTable> tables, IReadOnlyList<AblationCellResult> results)
    {
        static object? Number(double v) => double.IsNaN(v) ? null : Math.Round(v, 6);
        var doc = new Dictionary<string, object?>
        {
            ["data"] = o.Data, ["downstream"] = o.Downstream, ["preset"] = o.Preset, ["protocol"] = o.Protocol.ToString().ToLowerInvariant(),
            ["seeds"] = o.Seeds, ["steps"] = o.StepsPerCell,
            ["tables"] = tables.ToDictionary(AblationTables.Name, t => (object)new Dictionary<string, object?>
            {
                ["paper_source"] = AblationTables.PaperSource(t),
                ["rows"] = Stats(t, results).Select(s =>
                {
                    var metrics = s.Cells.SelectMany(c => c.Metrics.Keys).Distinct().ToList();
                    return new Dictionary<string, object?>
                    {
                        ["row"] = s.Row.Key, ["label"] = s.Row.Label, ["set"] = s.Row.Sets,
                        ["transformer_parameters"] = s.Cells.FirstOrDefault()?.TransformerParameters,
                        ["total_parameters"] = s.Cells.FirstOrDefault()?.TotalParameters,
                        ["paper"] = s.Row.Paper is { } p ? new Dictionary<string, double> { ["top1"] = p.Top1, ["top5"] = p.Top5 } : null,
                        ["seeds_done"] = s.Seeds,
                        ["mean"] = metrics.ToDictionary(m => m, m => Number(s.Mean(m))),
                        ["std"] = metrics.ToDictionary(m => m, m => Number(s.Std(m))),
                        ["cells"] = s.Cells,
                    };
                }).ToList(),
            }),
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }
}
