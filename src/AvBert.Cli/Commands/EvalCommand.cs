using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert eval`: a fine-tuned model on a labeled split → metrics.json, confusion.png, per_class.tsv, predictions.tsv, a table.</summary>
public static class EvalCommand
{
    public static Command Build()
    {
        var device = new DeviceOption();
        var model = CommonOptions.Model("A finetune run folder (or its model/ directory)");
        var data = CommonOptions.Data("Labeled source (the same kinds as finetune --data)");
        var split = CommonOptions.Split("Split to evaluate", "test");
        var output = CommonOptions.Out("metrics.json to write; confusion.png, per_class.tsv and predictions.tsv go beside it");
        var workers = CommonOptions.Workers();
        var precision = new PrecisionOption("Arithmetic of the forward: auto (bf16 on GPUs that have it, else fp16; fp32 on the CPU), fp32, tf32, bf16, fp16; default: the run's train.precision");
        var c = new Command("eval", "Evaluate a fine-tuned model with test-time views: top-1, top-5, mean per-class accuracy, mAP (multilabel), per-class table, confusion matrix");
        foreach (var o in new Option[] { model, data, split, output, workers }) c.Options.Add(o);
        device.AddTo(c);
        precision.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var summary = EvalRun.Run(new EvalOptions(r.GetValue(model)!, r.GetValue(data)!, r.GetValue(split)!, r.GetValue(output)!, device.Resolve(r),
                                                      r.GetValue(workers), precision.Get(r)), ct);
            summary.Report.WriteTable(Console.Out);
            Console.WriteLine($"eval: wrote {string.Join(", ", summary.Files)}");
            if (summary.Skipped is { } skipped) Console.WriteLine("eval: " + skipped);
            return Task.FromResult(0);
        });
        return c;
    }
}
