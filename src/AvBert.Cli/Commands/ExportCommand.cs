using System.CommandLine;
using AvBert.Runtime;
using AvBert.Runs;

namespace AvBert.Cli.Commands;

/// <summary>`avbert export --model M --format pytorch|onnx --out OUT`: weights that leave .NET (docs/export.md).</summary>
public static class ExportCommand
{
    public static Command Build()
    {
        var model = CommonOptions.Model("A model directory or run folder (pretrained, converted or fine-tuned)");
        var format = new Option<string>("--format") { Description = "pytorch (the authors' checkpoint.pyth + yacs config.yaml + weights.safetensors, in a folder) or onnx (the forward pass, one .onnx file)", Required = true };
        var output = CommonOptions.Out("A folder (--format pytorch) or an .onnx file (--format onnx)");
        var c = new Command("export", "Export a model for PyTorch (the authors' checkpoint layout) or ONNX (the forward pass)");
        foreach (var o in new Option[] { model, format, output }) c.Options.Add(o);
        c.SetAction(r =>
        {
            var f = r.GetValue(format)!.Trim().ToLowerInvariant() switch
            {
                "pytorch" => ExportFormat.PyTorch,
                "onnx" => ExportFormat.Onnx,
                var s => throw new UserError($"--format {s}: unknown. Valid: pytorch, onnx."),
            };
            var summary = ExportRun.Run(new ExportOptions(r.GetValue(model)!, f, r.GetValue(output)!));
            foreach (var line in summary.Lines) Console.WriteLine(line);
            return 0;
        });
        return c;
    }
}
