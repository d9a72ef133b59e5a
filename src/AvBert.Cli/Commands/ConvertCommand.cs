using System.CommandLine;
using AvBert.Runs;

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
            var converted = ConvertRun.Run(r.GetValue(from)!, r.GetValue(refConfig)!, r.GetValue(output)!, w => Console.Error.WriteLine($"warning: {w}"));
            Console.WriteLine($"converted {converted.TensorsLoaded} tensors ({converted.Parameters:N0} parameters: Transformer {converted.TransformerParameters:N0}, " +
                              $"CNNs {converted.CnnParameters:N0}); fusion {converted.Fusion}, {converted.Sharing} sharing");
            Console.WriteLine($"wrote {converted.ConfigFile} and {converted.WeightsFile}");
            return 0;
        });
        return c;
    }
}
