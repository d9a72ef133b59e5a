using System.CommandLine;
using AvBert.Model;
using AvBert.Model.Reference;
using AvBert.Runtime;

namespace AvBert.Cli.Commands;

/// <summary>`avbert convert`: a checkpoint of the authors' PyTorch code (e.g. their released checkpoint.pyth) → our model directory.</summary>
public static class ConvertCommand
{
    public static Command Build()
    {
        var from = new Option<string>("--from-reference") { Description = "The authors' checkpoint (torch.save .pyth/.pth, e.g. their released checkpoint.pyth)", Required = true };
        var refConfig = new Option<string>("--reference-config") { Description = "The authors' yacs YAML config the checkpoint was trained with (e.g. code/configs/kinetics-sounds/config.yaml)", Required = true };
        var output = CommonOptions.Out("Model directory to write (config.yaml + weights.safetensors)");
        var c = new Command("convert", "Convert a checkpoint of the authors' PyTorch AVBERT into an AVBERT.NET model directory");
        c.Options.Add(from);
        c.Options.Add(refConfig);
        c.Options.Add(output);
        c.SetAction(r =>
        {
            var import = ReferenceCheckpoint.Convert(r.GetValue(from)!, r.GetValue(refConfig)!, w => Console.Error.WriteLine($"warning: {w}"));
            using var model = import.Model;
            var dir = r.GetValue(output)!;
            ModelDirectory.Save(dir, import.Config, model);
            var counts = ParameterCounts.Of(model);
            var t = import.Config.Model.Transformer;
            Console.WriteLine($"converted {import.TensorsLoaded} tensors ({counts.Total:N0} parameters: Transformer {counts.Transformer:N0}, " +
                              $"CNNs {counts.Cnn:N0}); fusion {import.Config.Model.Fusion.ToString().ToLowerInvariant()}, " +
                              $"{(t.ShareAcrossLayers ? "cross-layer + " : "")}{t.ShareAcrossTransformers.ToString().ToLowerInvariant()} sharing");
            Console.WriteLine($"wrote {Path.Combine(dir, ModelDirectory.ConfigFile)} and {Path.Combine(dir, ModelDirectory.WeightsFile)}");
            return 0;
        });
        return c;
    }
}
