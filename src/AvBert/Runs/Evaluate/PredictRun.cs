using AvBert.Data;
using AvBert.Downstream;
using AvBert.Runtime;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>The end of `avbert predict`: the top classes of each file that could be read, and how many were skipped.</summary>
public sealed record PredictSummary(IReadOnlyList<FilePrediction> Predictions, int Skipped);

/// <summary>`avbert predict --model RUN FILE...`: the top-k classes of each file with their probabilities (test-time views
/// averaged, <see cref="Prediction"/>).</summary>
public static class PredictRun
{
    /// <param name="runtime">libtorch (default) or onnx: the forward pass in ONNX Runtime (<see cref="OnnxInference"/>; its CUDA
    /// provider when <paramref name="device"/> is CUDA and it is there, else its CPU one).</param>
    public static PredictSummary Run(string model, IReadOnlyList<string> files, Device device, int top, int workers, CancellationToken ct = default,
                                     string? runtime = null)
    {
        foreach (var p in files)
            if (!File.Exists(p)) throw new UserError($"predict: {p}: file not found.");
        bool onnxRuntime = OnnxInference.Parse(runtime) == InferenceRuntime.Onnx;
        var (cfg, transfer) = TransferModelDirectory.Load(model, onnxRuntime ? CPU : device);
        using var _ = transfer;
        using var onnx = onnxRuntime ? OnnxInference.ForPrediction(transfer, cfg, cuda: device.type == TorchSharp.DeviceType.CUDA) : null;
        var skipped = new SkippedLog(null);
        var predictions = Prediction.Run(transfer, cfg, files, onnx is null ? device : CPU, Math.Max(1, top), workers, skipped, ct, onnx is null ? null : onnx.Logits);
        return new PredictSummary(predictions, skipped.Count);
    }
}
