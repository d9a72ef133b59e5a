using AvBert.Data;
using AvBert.Downstream;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Runs;
using AvBert.Runs.Export;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert extract`: per video, safetensors with pooled CNN features and every Transformer's outputs.</summary>
public static class ExtractCommand
{
    public static Command Build()
    {
        var device = new DeviceOption();
        var model = CommonOptions.Model("Any model: a pretrain/finetune run folder, a model directory, or `avbert convert` output");
        var files = new Argument<string[]>("FILE") { Description = "Video files (or use --data)", Arity = ArgumentArity.ZeroOrMore };
        var data = new Option<string?>("--data") { Description = "A data source instead of files (labels go to index.tsv)" };
        var split = CommonOptions.Split("Split of --data", "all");
        var output = CommonOptions.Out("Folder for the .safetensors files (mirroring the inputs' folders) and index.tsv");
        var batch = new Option<int>("--batch-size") { Description = "Videos per forward pass", DefaultValueFactory = _ => 4 };
        var workers = CommonOptions.Workers();
        var runtime = CommonOptions.Runtime();
        var c = new Command("extract", "Export features per video: visual_pooled, audio_pooled, visual/audio_embeddings, visual/audio/multimodal_transformer (safetensors)");
        c.Arguments.Add(files);
        foreach (var o in new Option[] { model, data, split, output, batch, workers, runtime }) c.Options.Add(o);
        device.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var dev = device.Resolve(r);
            var rt = OnnxInference.Parse(r.GetValue(runtime));
            var paths = r.GetValue(files) ?? [];
            var spec = r.GetValue(data);
            var skipped = new SkippedLog(null);
            var dir = TransferModelDirectory.Resolve(r.GetValue(model)!);
            var (cfg, avbert) = ModelDirectory.Load(dir, rt == InferenceRuntime.Onnx ? TorchSharp.torch.CPU : dev);
            using var _ = avbert;
            var source = FeatureExport.Videos(spec, r.GetValue(split)!, paths, cfg.Data, skipped);
            var outDir = Path.GetFullPath(r.GetValue(output)!);
            Console.WriteLine($"extract: {source.Items.Count} videos, {cfg.Data.SequenceLength} clips each (centre crop), model {dir}, on {(rt == InferenceRuntime.Onnx ? "ONNX Runtime" : dev.ToString())}");
            var exported = FeatureExport.Run(avbert, cfg, source, outDir, dev, Math.Max(1, r.GetValue(batch)), r.GetValue(workers), skipped,
                                             ct: ct, runtime: rt);
            Console.WriteLine($"extract: {exported.Count} files in {outDir} ({string.Join(", ", exported.FirstOrDefault()?.Tensors ?? [])}); index in {Path.Combine(outDir, FeatureExport.IndexFile)}");
            if (skipped.Count > 0) Console.WriteLine("extract: " + skipped.Summary());
            return Task.FromResult(0);
        });
        return c;
    }
}
