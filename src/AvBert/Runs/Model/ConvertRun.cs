using AvBert.Model;
using AvBert.Model.Reference;

namespace AvBert.Runs;

/// <summary>What `convert` wrote: the tensors brought over, the model's parameter counts and settings, the two files.</summary>
public sealed record ConvertSummary(int TensorsLoaded, long Parameters, long TransformerParameters, long CnnParameters, string Fusion,
                                    string Sharing, string ConfigFile, string WeightsFile);

/// <summary>`avbert convert`: a checkpoint of the authors' PyTorch code (e.g. their released checkpoint.pyth) → our model
/// directory (docs/model.md).</summary>
public static class ConvertRun
{
    /// <param name="warn">Gets each warning of the conversion (one line).</param>
    public static ConvertSummary Run(string checkpoint, string referenceConfig, string outDir, Action<string> warn)
    {
        var import = ReferenceCheckpoint.Convert(checkpoint, referenceConfig, warn);
        using var model = import.Model;
        ModelDirectory.Save(outDir, import.Config, model);
        var counts = ParameterCounts.Of(model);
        var t = import.Config.Model.Transformer;
        return new ConvertSummary(import.TensorsLoaded, counts.Total, counts.Transformer, counts.Cnn, import.Config.Model.Fusion.ToString().ToLowerInvariant(),
                                  $"{(t.ShareAcrossLayers ? "cross-layer + " : "")}{t.ShareAcrossTransformers.ToString().ToLowerInvariant()}",
                                  Path.Combine(outDir, ModelDirectory.ConfigFile), Path.Combine(outDir, ModelDirectory.WeightsFile));
    }
}
