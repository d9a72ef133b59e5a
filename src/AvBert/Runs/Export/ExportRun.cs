using AvBert.Config;
using AvBert.Downstream;
using AvBert.Export.Onnx;
using AvBert.Export.PyTorch;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runs;

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
        bool fineTuned = File.Exists(Path.Combine(dir, ModelDirectory.HeadFile));
        var source = $"--model {o.Model}";
        switch (o.Format)
        {
            case ExportFormat.PyTorch:
            {
                if (File.Exists(o.Out)) throw new UserError($"--out {o.Out}: a file; --format pytorch writes a folder (checkpoint.pyth, config.yaml, weights.safetensors).");
                var (cfg, model) = ModelDirectory.Load(dir, CPU);
                using var _ = model;
                model.eval();
                var files = ReferenceExport.Write(model, cfg, o.Out, source);
                var lines = new List<string>
                {
                    $"wrote {files.Checkpoint} ({files.Tensors} tensors in {files.Storages} storages, the layout of the authors' checkpoint.pyth), " +
                    $"{files.Config} (their yacs config) and {files.Weights} (the state dict of their AVBert)",
                };
                if (fineTuned)
                    lines.Add($"note: the fine-tuned heads ({ModelDirectory.HeadFile}) are not part of the authors' pretrained layout and were left out; --format onnx carries them.");
                return new ExportSummary(o.Format, dir, [files.Checkpoint, files.Config, files.Weights], lines);
            }
            default:
            {
                if (Directory.Exists(o.Out)) throw new UserError($"--out {o.Out}: a folder; --format onnx writes one file (e.g. --out model.onnx).");
                var (cfg, model, transfer) = Load(dir, fineTuned);
                using var _ = (nn.Module?)transfer ?? model;
                var info = OnnxExport.Write(o.Out, model, cfg, transfer, source);
                string Shapes(IEnumerable<(string Name, string[] Dims)> values) => string.Join(", ", values.Select(v => $"{v.Name} [{string.Join(", ", v.Dims)}]"));
                return new ExportSummary(o.Format, dir, [o.Out],
                [
                    $"wrote {o.Out} ({info.Bytes / 1e6:0.0} MB, ONNX opset {OnnxGraph.Opset}, {info.Initializers} initializers; " +
                    $"{(transfer is null ? "backbone" : $"fine-tuned for {transfer.Options.Task.ToString().ToLowerInvariant()} with its heads")})",
                    $"inputs: {Shapes(info.Inputs)}",
                    $"outputs: {Shapes(info.Outputs)}",
                ]);
            }
        }
    }

    /// <summary>The model on the CPU in eval mode, with its heads when it is fine-tuned.</summary>
    internal static (AvBertConfig Config, AvBertModel Model, TransferModel? Transfer) Load(string dir, bool fineTuned)
    {
        if (fineTuned)
        {
            var (cfg, transfer) = TransferModelDirectory.Load(dir, CPU);
            transfer.eval();
            return (cfg, transfer.Backbone, transfer);
        }
        var (c, model) = ModelDirectory.Load(dir, CPU);
        model.eval();
        return (c, model, null);
    }
}
