using System.Text.Json;
using AvBert.Config;
using AvBert.Data;
using AvBert.Distributed;
using AvBert.Downstream;
using AvBert.Downstream.Evaluation;
using AvBert.Downstream.Metrics;
using AvBert.Runtime;

namespace AvBert.Runs;

/// <summary>
/// The cross-validation of `finetune`: which held-out folds to run (--folds, or the ESC-50 protocol by default), each
/// fold's training and test videos, and RUN/crossval.json with every fold's result and their mean.
/// </summary>
public static class CrossValidation
{
    /// <summary>Null: one run on train/test splits. Otherwise the held-out folds to run, and the whole source.</summary>
    public static List<int>? ChooseFolds(AvBertConfig config, FinetuneOptions o, out MediaSource? all)
    {
        all = null;
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
        if (spec == "auto")
        {
            if (present.Count < 2 || !everyItem) return null;
        }
        else if (present.Count < 2 || !everyItem)
            throw new UserError($"--folds {o.Folds}: {source.Name} does not give every item a fold (folds found: {(present.Count == 0 ? "none" : string.Join(", ", present))}). " +
                                "Fix: use a source with folds (esc50:ROOT, a CSV with a fold column) or --folds none.");
        all = source;
        if (spec is "auto" or "all") return present;
        var chosen = new List<int>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out var f) || !present.Contains(f))
                throw new UserError($"--folds {o.Folds}: '{part}' is not one of the source's folds ({string.Join(", ", present)}). Fix: --folds all, none, or a list like 1,3.");
            chosen.Add(f);
        }
        return chosen.Distinct().ToList();
    }

    /// <summary>The training videos (every fold but <paramref name="fold"/>) and the test videos (that fold) of one fold.</summary>
    public static (MediaSource Train, MediaSource Test) Split(MediaSource all, int fold) =>
        (all with { Name = $"{all.Name} (folds ≠ {fold})", Items = all.Items.Where(i => i.Fold != fold).ToList() },
         all with { Name = $"{all.Name} (fold {fold})", Items = all.Items.Where(i => i.Fold == fold).ToList() });

    /// <summary>Writes RUN/crossval.json from the folds done so far; returns the mean of each metric (null: no fold was tested).</summary>
    public static Dictionary<string, double>? Write(string runDir, IReadOnlyList<FinetuneResult> runs)
    {
        var reports = runs.Where(r => r.Report is not null).ToList();
        if (reports.Count == 0) return null;
        var keys = new[] { "top1", "top5", "mean_class_acc", "mAP" };
        double? Get(EvaluationReport r, string k) => k switch
        {
            "top1" => r.Top1, "top5" => r.Top5, "mean_class_acc" => r.MeanClassAccuracy, _ => r.MeanAveragePrecision,
        };
        var mean = new Dictionary<string, double>();
        foreach (var k in keys)
        {
            var vals = reports.Select(r => Get(r.Report!, k)).Where(v => v is { } x && !double.IsNaN(x)).Select(v => v!.Value).ToList();
            if (vals.Count > 0) mean[k] = vals.Average();
        }
        var doc = new Dictionary<string, object>
        {
            ["folds"] = reports.ToDictionary(r => r.Name, r => (object)JsonSerializer.Deserialize<JsonElement>(r.Report!.ToJson())),
            ["mean"] = mean.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 6)),
        };
        if (!DataParallel.IsRoot) return mean; // [data parallel] rank 0 writes
        var path = Path.Combine(runDir, TransferModelDirectory.CrossValidationFile);
        AvBert.IO.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return mean;
    }

}
