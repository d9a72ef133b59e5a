using AvBert.Export.PyTorch;
using AvBert.Model;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Runs.Export;

/// <summary>The file formats of `avbert export` (docs/export.md).</summary>
public enum ExportFormat
{
    /// <summary>The authors' checkpoint layout and yacs config (checkpoint.pyth, config.yaml) and a safetensors state dict.</summary>
    PyTorch,
    /// <summary>The forward pass as an ONNX graph.</summary>
    Onnx,
}

/// <param name="Model">a model directory or run folder (pretrained, converted or fine-tuned)</param>
/// <param name="Out">a folder (pytorch) or an .onnx file (onnx)</param>
public sealed record ExportOptions(string Model, ExportFormat Format, string Out);

/// <summary>What `export` wrote.</summary>
/// <param name="Files">the files written</param>
/// <param name="Lines">what to tell the user, one line each</param>
public sealed record ExportSummary(ExportFormat Format, string ModelDir, IReadOnlyList<string> Files, IReadOnlyList<string> Lines);

/// <summary>`avbert export` as a library call: a model directory → the authors' PyTorch layout or ONNX.</summary>
public static class ExportRun
{
    public static ExportSummary Run(ExportOptions o)
    {
        var dir = ModelDirectory.Resolve(o.Model);
        var (cfg, model) = ModelDirectory.Load(dir, CPU);
        using var _ = model;
        model.eval();
        switch (o.Format)
        {
            case ExportFormat.PyTorch:
            {
                if (File.Exists(o.Out)) throw new UserError($"--out {o.Out}: a file; --format pytorch writes a folder (checkpoint.pyth, config.yaml, weights.safetensors).");
                var files = ReferenceExport.Write(model, cfg, o.Out, $"--model {o.Model}");
                var lines = new List<string>
                {
                    $"wrote {files.Checkpoint} ({files.Tensors} tensors in {files.Storages} storages, the layout of the authors' checkpoint.pyth), " +
                    $"{files.Config} (their yacs config) and {files.Weights} (the state dict of their AVBert)",
                };
                if (File.Exists(Path.Combine(dir, ModelDirectory.HeadFile)))
                    lines.Add($"note: the fine-tuned heads ({ModelDirectory.HeadFile}) are not part of the authors' pretrained layout and were left out; --format onnx carries them.");
                return new ExportSummary(o.Format, dir, [files.Checkpoint, files.Config, files.Weights], lines);
            }
            default:
                throw new UserError($"--format {o.Format.ToString().ToLowerInvariant()}: not supported yet.");
        }
    }
}
