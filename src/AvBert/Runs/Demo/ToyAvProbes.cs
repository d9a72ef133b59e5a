using AvBert.Downstream.Probing;
using AvBert.Model;
using AvBert.Synthetic;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>Linear-probe accuracies (fractions) of one frozen model on toy-av: on the Transformers' outputs and on the CNNs' pooled features.</summary>
public sealed record ToyAvProbeScores(double Visual, double Audio, double AudioVisual, DemoCnnScores Cnn);

/// <summary>
/// The toy-av probe protocol of `avbert demo` (and `avbert ablate`): features of a frozen model on labelled toy-av videos,
/// linear probes trained on the train split's first videos and scored on the test split, and BatchNorm recalibration
/// (the demo's no-learning control).
/// </summary>
public static class ToyAvProbes
{
    /// <summary>Probes on the visual, audio and audio-visual features (Transformer outputs and CNN features) of
    /// <paramref name="trainVideos"/> train and <paramref name="testVideos"/> test videos (<see cref="FeatureClassifiers"/>,
    /// the linear probe only).</summary>
    public static ToyAvProbeScores Score(AvBertModel model, ToyAv toy, int trainVideos, int testVideos, LinearProbeOptions probe, int batchSize,
                                         Device device, CancellationToken ct)
    {
        var transformers = TransformerSharing.TransformersOf(model.Config);
        using var trainSet = Features(model, toy, ToyAvSplit.Train, trainVideos, batchSize, device, ct);
        using var testSet = Features(model, toy, ToyAvSplit.Test, testVideos, batchSize, device, ct);
        using var train = FeatureFamilies.From(trainSet, transformers);
        using var test = FeatureFamilies.From(testSet, transformers);
        var linearOnly = new ClassifierOptions { Linear = probe, Ks = [] };
        double Probe(FeatureRole role) =>
            FeatureClassifiers.Score(train[role]!.Features, trainSet.Labels, test[role]!.Features, testSet.Labels, toy.Classes.Count, linearOnly).Linear!.Value;
        return new ToyAvProbeScores(Probe(FeatureRole.Visual), Probe(FeatureRole.Audio), Probe(FeatureRole.AudioVisual),
                                    new DemoCnnScores(Probe(FeatureRole.VisualCnn), Probe(FeatureRole.AudioCnn), Probe(FeatureRole.CnnAudioVisual)));
    }

    /// <summary>Recalibrates every BatchNorm's running mean/variance on the probe-training videos
    /// (<see cref="FrozenFeatures.RecalibrateBatchNorm"/>), so that they describe toy-av.</summary>
    public static void CalibrateBatchNorm(AvBertModel model, ToyAv toy, int trainVideos, Device device, CancellationToken ct) =>
        FrozenFeatures.RecalibrateBatchNorm(model, ToyAvStream.Range(toy, ToyAvSplit.Train, trainVideos, 16).Select(b => (b.Visual, b.Audio)), device, ct);

    static FeatureSet Features(AvBertModel model, ToyAv toy, ToyAvSplit split, int count, int batchSize, Device device, CancellationToken ct) =>
        FrozenFeatures.Extract(model, ToyAvStream.Range(toy, split, count, batchSize)
            .Select(b => { ct.ThrowIfCancellationRequested(); return (b.Visual, b.Audio, b.Labels); }), device);
}
