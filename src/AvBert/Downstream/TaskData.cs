using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream.Evaluation;
using AvBert.Downstream.Metrics;
using AvBert.Runtime;
using AvBert.Data.Sources;

namespace AvBert.Downstream;

/// <summary>
/// A task's labeled data as every downstream job checks and uses it: labels present (one per video for single-label
/// tasks), renumbered to a model's classes, evaluated in batches of the task's test views, and the report files.
/// </summary>
public static class TaskData
{
    /// <summary>Test samples per batch: a sequence task's sample is one sequence, as in training; a single-clip task's
    /// sample holds test_clips clips, so fewer samples than training.</summary>
    public static int EvalBatchSize(DownstreamConfig d)
    {
        var t = d.Current;
        return d.UsesSequences ? t.BatchSize : Math.Max(1, t.BatchSize / t.TestClips);
    }

    public static void WriteReport(EvaluationReport report, string dir, string jsonName = "metrics.json")
    {
        report.WriteJson(Path.Combine(dir, jsonName));
        report.WritePerClassTsv(Path.Combine(dir, "per_class.tsv"));
        report.WriteConfusionPng(Path.Combine(dir, "confusion.png"));
    }

    /// <summary>
    /// The source with its labels renumbered to the model's classes (by name). A class the model does not know is an error.
    /// </summary>
    public static MediaSource Remap(MediaSource source, IReadOnlyList<string> modelClasses)
    {
        if (source.ClassNames.SequenceEqual(modelClasses)) return source;
        var index = modelClasses.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
        var unknown = source.ClassNames.Where(c => !index.ContainsKey(c)).ToList();
        var used = source.Items.SelectMany(i => i.Labels).Distinct().Select(l => source.ClassNames[l]).ToHashSet();
        var unknownUsed = unknown.Where(used.Contains).ToList();
        if (unknownUsed.Count > 0)
            throw new UserError($"{source.Name}: {unknownUsed.Count} class(es) the model was not trained on (e.g. '{unknownUsed[0]}'); " +
                                $"the model knows {modelClasses.Count}: {string.Join(", ", modelClasses.Take(8))}{(modelClasses.Count > 8 ? ", ..." : "")}. " +
                                "Fix: evaluate on data with the model's classes.");
        var items = source.Items.Select(i => i with { Labels = i.Labels.Select(l => index[source.ClassNames[l]]).ToArray() }).ToList();
        return source with { Items = items, ClassNames = modelClasses.ToList() };
    }

    /// <summary>Labels must exist, and single-label tasks need exactly one per video.</summary>
    public static void CheckLabels(MediaSource source, DownstreamTask task, string option)
    {
        if (!source.Labeled)
            throw new UserError($"{option}: {source.Name} has no labels. Fix: use a labeled source (classes:DIR, ucf101:, esc50:, kinetics:, charades:, audioset: with its label index, csv: with a label column).");
        if (task == DownstreamTask.Multilabel) return;
        var bad = source.Items.FirstOrDefault(i => i.Labels.Length != 1);
        if (bad is not null)
            throw new UserError($"{option}: {bad.Path} has {bad.Labels.Length} labels, but the {task.ToString().ToLowerInvariant()} task is single-label. " +
                                "Fix: --task multilabel for multi-label data, or give each video one label.");
    }
}
