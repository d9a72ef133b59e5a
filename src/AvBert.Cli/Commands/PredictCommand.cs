using System.Globalization;
using System.Text.Json;
using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert predict --model RUN FILE...`: the top-k classes of each file with their probabilities.</summary>
public static class PredictCommand
{
    public static Command Build()
    {
        var device = new DeviceOption();
        var model = CommonOptions.Model("A finetune run folder (or its model/ directory)");
        var files = new Argument<string[]>("FILE") { Description = "Video or audio files", Arity = ArgumentArity.OneOrMore };
        var top = new Option<int>("--top") { Description = "How many classes to list per file", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per file instead of text" };
        var workers = CommonOptions.Workers();
        var runtime = CommonOptions.Runtime();
        var c = new Command("predict", "Classify files with a fine-tuned model: the top classes with probabilities (test-time views averaged)");
        c.Arguments.Add(files);
        foreach (var o in new Option[] { model, top, json, workers, runtime }) c.Options.Add(o);
        device.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var summary = PredictRun.Run(r.GetValue(model)!, r.GetValue(files)!, device.Resolve(r), r.GetValue(top), r.GetValue(workers), ct,
                                         r.GetValue(runtime));
            var predictions = summary.Predictions;
            var inv = CultureInfo.InvariantCulture;
            foreach (var p in predictions)
            {
                if (r.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(new
                    {
                        path = p.Path,
                        top = p.Top.Select(s => new { name = s.Name, probability = Math.Round(s.Probability, 6) }),
                    }));
                    continue;
                }
                Console.WriteLine(p.Path);
                int width = p.Top.Max(s => s.Name.Length);
                for (int i = 0; i < p.Top.Count; i++)
                    Console.WriteLine($"  {i + 1}. {p.Top[i].Name.PadRight(width)}  {p.Top[i].Probability.ToString("0.0000", inv)}");
            }
            return Task.FromResult(summary.Skipped > 0 && predictions.Count == 0 ? 2 : 0);
        });
        return c;
    }
}
