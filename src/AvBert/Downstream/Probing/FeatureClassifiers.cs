using static TorchSharp.torch;

namespace AvBert.Downstream.Probing;

/// <summary>Which classifiers a probe trains on frozen features.</summary>
public sealed record ClassifierOptions
{
    /// <summary>The logistic-regression probe; null: none.</summary>
    public LinearProbeOptions? Linear { get; init; } = new();
    /// <summary>The k of the k-nearest-neighbour classifier (cosine); empty: none.</summary>
    public IReadOnlyList<int> Ks { get; init; } = [1, 10, 20];
    /// <summary>Standardise the features with the training items' statistics before the cosine (<see cref="KnnClassifier"/>).</summary>
    public bool Standardise { get; init; } = true;
}

/// <summary>Top-1 accuracies (fractions) on one train/test division: the linear probe's (null when not run) and one per k.</summary>
public sealed record FoldAccuracy(double? Linear, IReadOnlyList<double> Knn);

/// <summary>The classifiers of a probe on one feature family and one train/test division — the one place the demo,
/// `ablate` and `probe` score features.</summary>
public static class FeatureClassifiers
{
    /// <summary>Trains on <paramref name="trainX"/> [Ntr,D] with labels [Ntr] in 0..classes-1 and scores on the test items.</summary>
    public static FoldAccuracy Score(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes, ClassifierOptions options)
    {
        double? linear = null;
        if (options.Linear is { } lo)
        {
            using var probe = LinearProbe.Fit(trainX, trainY, classes, lo);
            linear = probe.Accuracy(testX, testY);
        }
        var knn = options.Ks.Count == 0 ? [] : KnnClassifier.Accuracies(trainX, trainY, testX, testY, classes, options.Ks, options.Standardise);
        return new FoldAccuracy(linear, knn);
    }
}
