using AvBert.Data;
using AvBert.Downstream;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>The end of `avbert predict`: the top classes of each file that could be read, and how many were skipped.</summary>
public sealed record PredictSummary(IReadOnlyList<FilePrediction> Predictions, int Skipped);

/// <summary>`avbert predict --model RUN FILE...`: the top-k classes of each file with their probabilities (test-time views
/// averaged, <see cref="Prediction"/>).</summary>
public static class PredictRun
{
    public static PredictSummary Run(string model, IReadOnlyList<string> files, Device device, int top, int workers, CancellationToken ct = default)
    {
        foreach (var p in files)
            if (!File.Exists(p)) throw new UserError($"predict: {p}: file not found.");
        var (cfg, transfer) = TransferModelDirectory.Load(model, device);
        using var _ = transfer;
        var skipped = new SkippedLog(null);
        var predictions = Prediction.Run(transfer, cfg, files, device, Math.Max(1, top), workers, skipped, ct);
        return new PredictSummary(predictions, skipped.Count);
    }
}
