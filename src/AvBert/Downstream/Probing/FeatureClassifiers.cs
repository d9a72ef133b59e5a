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

/// <summary>The classifiers of a probe on one feature family and its train/test divisions — the one place the demo,
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
        return new FoldAccuracy(linear, Knn(trainX, trainY, testX, testY, classes, options));
    }

    /// <summary>
    /// <see cref="Score"/> on every division of the items of <paramref name="x"/> [N,D] (labels [N]), one result per fold:
    /// the linear probes of all folds are one batched fit (<see cref="LinearProbe.FitFolds"/>: the same probes, to float
    /// rounding, as a fit per fold), the kNN one per fold.
    /// </summary>
    public static FoldAccuracy[] ScoreFolds(Tensor x, Tensor labels, IReadOnlyList<ProbeFold> folds, int classes, ClassifierOptions options)
    {
        var linear = new double?[folds.Count];
        if (options.Linear is { } lo && folds.Count > 0)
        {
            var masks = folds.Select(f => { var m = new bool[x.shape[0]]; foreach (var i in f.Train) m[i] = true; return m; }).ToList();
            var probes = LinearProbe.FitFolds(x, labels, masks, classes, lo);
            try
            {
                for (int k = 0; k < folds.Count; k++)
                {
                    using var scope = NewDisposeScope();
                    var test = tensor(folds[k].Test.Select(i => (long)i).ToArray(), device: x.device);
                    linear[k] = probes[k].Accuracy(x.index_select(0, test), labels.index_select(0, test.to(labels.device)));
                }
            }
            finally
            {
                foreach (var p in probes) p.Dispose();
            }
        }
        return folds.Select((fold, k) =>
        {
            using var scope = NewDisposeScope();
            var train = tensor(fold.Train.Select(i => (long)i).ToArray(), device: x.device);
            var test = tensor(fold.Test.Select(i => (long)i).ToArray(), device: x.device);
            return new FoldAccuracy(linear[k], Knn(x.index_select(0, train), labels.index_select(0, train.to(labels.device)), x.index_select(0, test),
                                                   labels.index_select(0, test.to(labels.device)), classes, options));
        }).ToArray();
    }

    static IReadOnlyList<double> Knn(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes, ClassifierOptions options) =>
        options.Ks.Count == 0 ? [] : KnnClassifier.Accuracies(trainX, trainY, testX, testY, classes, options.Ks, options.Standardise);
}
