using System.Globalization;
using System.Text.Json;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Runtime;
using AvBert.Runs.Export;
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
            var dev = device.Resolve(r);
            var paths = r.GetValue(files)!;
            foreach (var p in paths)
                if (!File.Exists(p)) throw new UserError($"predict: {p}: file not found.");
            var rt = OnnxInference.Parse(r.GetValue(runtime));
            var (cfg, transfer) = TransferModelDirectory.Load(r.GetValue(model)!, rt == InferenceRuntime.Onnx ? TorchSharp.torch.CPU : dev);
            using var _ = transfer;
            using var onnx = rt == InferenceRuntime.Onnx ? OnnxInference.ForPrediction(transfer, cfg, cuda: dev.type == TorchSharp.DeviceType.CUDA) : null;
            var skipped = new SkippedLog(null);
            var k = Math.Max(1, r.GetValue(top));
            var predictions = Prediction.Run(transfer, cfg, paths, onnx is null ? dev : TorchSharp.torch.CPU, k, r.GetValue(workers), skipped, ct, onnx is null ? null : onnx.Logits);
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
            return Task.FromResult(skipped.Count > 0 && predictions.Count == 0 ? 2 : 0);
        });
        return c;
    }
}
