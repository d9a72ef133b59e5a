using AvBert.Data;
using AvBert.Downstream;
using AvBert.Downstream.Evaluation;
using AvBert.Downstream.Metrics;
using AvBert.Runtime;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert eval`: a fine-tuned model on a labeled split → metrics.json, confusion.png, per_class.tsv, a table.</summary>
public static class EvalCommand
{
    public static Command Build()
    {
        var device = new DeviceOption();
        var model = new Option<string>("--model") { Description = "A finetune run folder (or its model/ directory)", Required = true };
        var data = new Option<string>("--data") { Description = "Labeled source (the same kinds as finetune --data)", Required = true };
        var split = new Option<string>("--split") { Description = "Split to evaluate", DefaultValueFactory = _ => "test" };
        var output = new Option<string>("--out") { Description = "metrics.json to write; confusion.png, per_class.tsv and predictions.tsv go beside it", Required = true };
        var workers = new Option<int>("--workers") { Description = "Decode threads (0: one per core)", DefaultValueFactory = _ => 0 };
        var c = new Command("eval", "Evaluate a fine-tuned model with test-time views: top-1, top-5, mean per-class accuracy, mAP (multilabel), per-class table, confusion matrix");
        foreach (var o in new Option[] { model, data, split, output, workers }) c.Options.Add(o);
        device.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var dev = device.Resolve(r);
            var (cfg, transfer) = TransferModelDirectory.Load(r.GetValue(model)!, dev);
            using var _ = transfer;
            var skipped = new SkippedLog(null);
            var source = SourceLoader.Open(r.GetValue(data)!, r.GetValue(split)!, skipped);
            FinetuneRun.CheckLabels(source, cfg.Downstream.Task, "--data");
            source = FinetuneRun.Remap(source, cfg.Downstream.ClassNames);
            var outPath = Path.GetFullPath(r.GetValue(output)!);
            var dir = Path.GetDirectoryName(outPath)!;
            Directory.CreateDirectory(dir);
            var d = cfg.Downstream;
            Console.WriteLine($"eval: {source.Items.Count} videos of {source.Name}, {d.Task.ToString().ToLowerInvariant()} task, " +
                              $"{TaskViews.TestViewsPerVideo(d, cfg.Data)} views each, on {dev}");
            var dataset = new VideoSequenceDataset(source, cfg.Data, TaskViews.Test(d));
            var objective = new ClassificationObjective(d.Current.Loss, d.Current.Margin, d.ClassNames.Length);
            var predictions = Evaluator.Run(transfer, dataset, objective, d.Current.Ensemble, FinetuneRun.EvalBatchSize(d, cfg.Data), dev,
                                            r.GetValue(workers), skipped, ct: ct);
            if (predictions.Scores.Length == 0) throw new UserError($"--data {r.GetValue(data)}: no video could be evaluated (see the skipped lines above).");
            var report = EvaluationReport.Compute(predictions.Scores, predictions.Labels, d.ClassNames, objective.MultiLabel);
            report.WriteJson(outPath);
            report.WritePerClassTsv(Path.Combine(dir, "per_class.tsv"));
            report.WriteConfusionPng(Path.Combine(dir, "confusion.png"));
            Prediction.WriteTsv(Path.Combine(dir, "predictions.tsv"), predictions, d.ClassNames);
            Spectre.Console.AnsiConsole.Write(report.ToTable());
            Console.WriteLine($"eval: wrote {outPath}, {Path.Combine(dir, "confusion.png")}, {Path.Combine(dir, "per_class.tsv")}, {Path.Combine(dir, "predictions.tsv")}");
            if (skipped.Count > 0) Console.WriteLine("eval: " + skipped.Summary());
            return Task.FromResult(0);
        });
        return c;
    }
}
