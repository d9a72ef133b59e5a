using System.Text.Json;
using AvBert.Config;
using AvBert.Data;
using AvBert.Distributed;
using AvBert.Downstream;
using AvBert.Downstream.Evaluation;
using AvBert.Downstream.Metrics;
using AvBert.Runtime;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>
/// The cross-validation of `finetune`: which held-out folds to run (--folds, or the ESC-50 protocol by default), each
/// fold's training and test videos, and RUN/crossval.json with every fold's result and their mean.
/// </summary>
public static class CrossValidation
{
    /// <summary>Null: one run on train/test splits. Otherwise the held-out folds (or official splits) to run, and how to split the source for each.</summary>
    public static FoldPlan? Choose(AvBertConfig config, FinetuneOptions o, SkippedLog? skipped = null)
    {
        var spec = o.Folds.Trim().ToLowerInvariant();
        if (spec == "none") return null;
        if (o.NoTest || o.TestData is not null || o.ValFraction is not null)
        {
            if (spec == "auto") return null;   // the user chose the test: no automatic cross-validation
            throw new UserError($"--folds {o.Folds}: cross-validation tests on each fold in turn; it does not combine with --no-test, --test-data or --val-fraction. Fix: drop one.");
        }
        // auto: the ESC-50 protocol cross-validates, unless the spec already names its held-out fold (esc50:ROOT,fold=2).
        if (spec == "auto" && (config.Downstream.Task != DownstreamTask.Audio || o.Data.Contains(",fold=", StringComparison.OrdinalIgnoreCase)))
            return null;
        MediaSource source;
        try { source = DataSpec.Open(o.Data, "all", config.Data); }
        catch (UserError) when (spec == "auto") { return null; }   // a source without an "all" split has no folds to cross
        if (spec != "auto" && o.Data.Contains(",fold=", StringComparison.OrdinalIgnoreCase))
            throw new UserError($"--folds {o.Folds}: the data spec names a held-out fold ({o.Data}); cross-validation picks the folds itself. Fix: drop ',fold=N' or use --folds none.");
        var present = source.Items.Where(i => i.Fold is not null).Select(i => i.Fold!.Value).Distinct().Order().ToList();
        bool everyItem = source.Items.All(i => i.Fold is not null);
        if (spec != "auto" && present.Count == 0 && source.OfficialSplits > 1)
        {
            // UCF101: its official train/test splits (the spec's ",fold=N"), each its own training and test lists.
            var splits = Pick(Enumerable.Range(1, source.OfficialSplits).ToList(), spec, o.Folds);
            return new FoldPlan(splits, $"official splits {string.Join(", ", splits)} of {o.Data}", "split",
                k => (DataSpec.OpenLabeled($"{o.Data},fold={k}", o.TrainSplit, config.Data, skipped),
                      DataSpec.OpenLabeled($"{o.Data},fold={k}", o.TestSplit, config.Data, skipped)));
        }
        if (spec == "auto")
        {
            if (present.Count < 2 || !everyItem) return null;
        }
        else if (present.Count < 2 || !everyItem)
            throw new UserError($"--folds {o.Folds}: {source.Name} does not give every item a fold (folds found: {(present.Count == 0 ? "none" : string.Join(", ", present))}). " +
                                "Fix: use a source with folds (esc50:ROOT, a CSV with a fold column) or --folds none.");
        var folds = spec == "auto" ? present : Pick(present, spec, o.Folds);
        return new FoldPlan(folds, $"folds {string.Join(", ", folds)} of {source.Name}", "fold", f => Split(source, f));
    }

    /// <summary>The folds <paramref name="spec"/> names ("all" or a list like "1,3") among <paramref name="present"/>.</summary>
    static List<int> Pick(List<int> present, string spec, string given)
    {
        if (spec == "all") return present;
        var chosen = new List<int>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out var f) || !present.Contains(f))
                throw new UserError($"--folds {given}: '{part}' is not one of the source's folds ({string.Join(", ", present)}). Fix: --folds all, none, or a list like 1,3.");
            chosen.Add(f);
        }
        return chosen.Distinct().ToList();
    }

    /// <summary>The training videos (every fold but <paramref name="fold"/>) and the test videos (that fold) of one fold.</summary>
    public static (MediaSource Train, MediaSource Test) Split(MediaSource all, int fold) =>
        (all with { Name = $"{all.Name} (folds ≠ {fold})", Items = all.Items.Where(i => i.Fold != fold).ToList() },
         all with { Name = $"{all.Name} (fold {fold})", Items = all.Items.Where(i => i.Fold == fold).ToList() });

    /// <summary>Sample standard deviation (n − 1) of at least two values: the spread over folds, or over seeds (`ablate`).</summary>
    public static double SampleStd(IReadOnlyList<double> values)
    {
        if (values.Count < 2) throw new ArgumentException("the sample standard deviation needs at least two values", nameof(values));
        double m = values.Average();
        return Math.Sqrt(values.Sum(v => (v - m) * (v - m)) / (values.Count - 1));
    }

    /// <summary>
    /// Writes RUN/crossval.json from the folds done so far — each fold's metrics, their mean and their sample standard
    /// deviation (n − 1; 0 with one fold) — and returns the mean and std of each metric (null: no fold was tested).
    /// </summary>
    public static FoldStatistics? Write(string runDir, IReadOnlyList<FinetuneResult> runs)
    {
        var reports = runs.Where(r => r.Report is not null).ToList();
        if (reports.Count == 0) return null;
        var keys = new[] { "top1", "top5", "mean_class_acc", "mAP" };
        double? Get(EvaluationReport r, string k) => k switch
        {
            "top1" => r.Top1, "top5" => r.Top5, "mean_class_acc" => r.MeanClassAccuracy, _ => r.MeanAveragePrecision,
        };
        var mean = new Dictionary<string, double>();
        var std = new Dictionary<string, double>();
        foreach (var k in keys)
        {
            var vals = reports.Select(r => Get(r.Report!, k)).Where(v => v is { } x && !double.IsNaN(x)).Select(v => v!.Value).ToList();
            if (vals.Count == 0) continue;
            mean[k] = vals.Average();
            std[k] = vals.Count < 2 ? 0 : SampleStd(vals);
        }
        var doc = new Dictionary<string, object>
        {
            ["folds"] = reports.ToDictionary(r => r.Name, r => (object)JsonSerializer.Deserialize<JsonElement>(r.Report!.ToJson())),
            ["mean"] = mean.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 6)),
            ["std"] = std.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 6)),
        };
        var stats = new FoldStatistics(mean, std, reports.Count);
        if (!DataParallel.IsRoot) return stats; // [data parallel] rank 0 writes
        var path = Path.Combine(runDir, TransferModelDirectory.CrossValidationFile);
        AvBert.Storage.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return stats;
    }

}

/// <summary>
/// The cross-validation `finetune` runs: the held-out folds (ESC-50, a CSV with a fold column: train on the other folds)
/// or the official splits (UCF101's 3: each with its own training and test lists), each trained in RUN/fold-N/.
/// </summary>
/// <param name="Kind">"fold" or "split", for messages.</param>
/// <param name="Split">The training and test videos of fold (or split) N.</param>
public sealed record FoldPlan(IReadOnlyList<int> Folds, string Description, string Kind, Func<int, (MediaSource Train, MediaSource Test)> Split);

/// <summary>Mean and sample standard deviation (n − 1) of each metric over the <paramref name="Count"/> folds tested.</summary>
public sealed record FoldStatistics(IReadOnlyDictionary<string, double> Mean, IReadOnlyDictionary<string, double> Std, int Count);
