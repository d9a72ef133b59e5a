using AvBert.Runs;
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
            var summary = ExtractRun.Run(new ExtractOptions
            {
                Model = r.GetValue(model)!, Files = r.GetValue(files) ?? [], Data = r.GetValue(data), Split = r.GetValue(split)!,
                OutDir = r.GetValue(output)!, Device = device.Resolve(r), BatchSize = r.GetValue(batch), Workers = r.GetValue(workers),
                Runtime = r.GetValue(runtime),
            }, Console.Out, ct);
            Console.WriteLine($"extract: {summary.Files} files in {summary.OutDir} ({string.Join(", ", summary.Tensors)}); index in {summary.IndexFile}");
            if (summary.Skipped is { } skipped) Console.WriteLine("extract: " + skipped);
            return Task.FromResult(0);
        });
        return c;
    }
}
