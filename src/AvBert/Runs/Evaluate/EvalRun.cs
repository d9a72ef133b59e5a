using AvBert.Data;
using AvBert.Downstream;
using AvBert.Downstream.Evaluation;
using AvBert.Downstream.Metrics;
using AvBert.Config;
using AvBert.Runtime;
using AvBert.Training;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>`avbert eval`: a fine-tuned model (--model), a labeled source and split, metrics.json to write, where and how.</summary>
public sealed record EvalOptions(string Model, string Data, string Split, string OutJson, Device Device, int Workers, Precision? Precision);

/// <summary>The end of `avbert eval`: the report, the files written (metrics.json first), the skipped files' line (null: none).</summary>
public sealed record EvalSummary(EvaluationReport Report, string OutJson, IReadOnlyList<string> Files, string? Skipped);

/// <summary>
/// `avbert eval` as a library call: a fine-tuned model on a labeled split, with the task's test-time views; writes
/// metrics.json (at <c>outJson</c>) and, beside it, confusion.png, per_class.tsv and predictions.tsv.
/// </summary>
public static class EvalRun
{
    /// <summary>`avbert eval` as the command line gives it: <see cref="Run(string, string, string, string, Device, int, SkippedLog?, TextWriter?, Precision?, CancellationToken)"/>
    /// with a skipped-file log that only prints.</summary>
    public static EvalSummary Run(EvalOptions o, CancellationToken ct = default)
    {
        var skipped = new SkippedLog(null);
        var outPath = Path.GetFullPath(o.OutJson);
        var report = Run(o.Model, o.Data, o.Split, outPath, o.Device, o.Workers, skipped, precision: o.Precision, ct: ct);
        var dir = Path.GetDirectoryName(outPath)!;
        return new EvalSummary(report, outPath, [outPath, Path.Combine(dir, "confusion.png"), Path.Combine(dir, "per_class.tsv"), Path.Combine(dir, "predictions.tsv")],
                               skipped.Count > 0 ? skipped.Summary() : null);
    }

    public static EvaluationReport Run(string modelPath, string data, string split, string outJson, Device device, int workers = 0,
                                       SkippedLog? skipped = null, TextWriter? log = null, Precision? precision = null, CancellationToken ct = default)
    {
        log ??= Console.Out;
        var (cfg, model) = TransferModelDirectory.Load(modelPath, device);
        using var _ = model;
        var d = cfg.Downstream;
        var arithmetic = MixedPrecision.For(cfg, device, log, precision);
        var source = DataSpec.OpenLabeled(data, split, cfg.Data, skipped, log);
        TaskData.CheckLabels(source, d.Task, "--data");
        source = TaskData.Remap(source, d.ClassNames);
        var outPath = Path.GetFullPath(outJson);
        var dir = Path.GetDirectoryName(outPath)!;
        Directory.CreateDirectory(dir);
        log.WriteLine($"eval: {source.Items.Count} videos of {source.Name}, {d.Task.ToString().ToLowerInvariant()} task, " +
                      $"{TaskViews.DescribeTestViews(d)} each, on {device}, {arithmetic}");
        var dataset = new VideoSequenceDataset(source, cfg.Data, TaskViews.Test(d));
        var task = ClassificationTask.For(model, d, device);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double lastLine = 0;
        var predictions = Evaluator.Run(task, dataset, d.Current.Ensemble, TaskData.EvalBatchSize(d), workers, skipped, (done, total) =>
        {
            double now = clock.Elapsed.TotalSeconds;
            if (now - lastLine < 10 || done == total) return;
            lastLine = now;
            log.WriteLine($"eval: {done}/{total} samples, {now:0} s, ETA {(total - done) * now / done:0} s");
        }, arithmetic, ct);
        if (predictions.Scores.Length == 0) throw new UserError($"--data {data}: no video could be evaluated (see the skipped lines above).");
        var report = EvaluationReport.Compute(predictions.Scores, predictions.Labels, d.ClassNames, task.Objective.MultiLabel);
        TaskData.WriteReport(report, dir, Path.GetFileName(outPath));
        Prediction.WriteTsv(Path.Combine(dir, "predictions.tsv"), predictions, d.ClassNames);
        return report;
    }
}
