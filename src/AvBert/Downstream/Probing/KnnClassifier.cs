using static TorchSharp.torch;

namespace AvBert.Downstream.Probing;

/// <summary>
/// k-nearest-neighbour classification on frozen features by cosine similarity, for several k at once: one matrix
/// multiply (test × training) and one top-k per call.
/// <para>Vote: the majority class among the k nearest training items; a tie between classes is broken by the summed
/// similarity of their neighbours (then by the lower class index). Features are standardised with the training items'
/// mean and std per dimension (as <see cref="LinearProbe"/> does; pooled ReLU features share a large common offset that
/// would otherwise dominate the cosine), then L2-normalised.</para>
/// </summary>
public static class KnnClassifier
{
    /// <summary>
    /// Predicted classes [ks.Count, Nt] (int64) of test features [Nt,D] from training features [Ntr,D] with integer labels
    /// [Ntr] in 0..classes-1, one row per k of <paramref name="ks"/> (each 1 ≤ k ≤ Ntr).
    /// </summary>
    public static Tensor Predict(Tensor trainX, Tensor trainY, Tensor testX, int classes, IReadOnlyList<int> ks, bool standardise = true)
    {
        if (trainX.dim() != 2 || testX.dim() != 2 || trainX.shape[1] != testX.shape[1])
            throw new ArgumentException($"features must be [N,D] with the same D, got [{string.Join(",", trainX.shape)}] and [{string.Join(",", testX.shape)}]");
        if (trainY.shape[0] != trainX.shape[0]) throw new ArgumentException("training features and labels differ in N");
        if (ks.Count == 0) throw new ArgumentException("no k given", nameof(ks));
        foreach (var k in ks)
            if (k < 1 || k > trainX.shape[0]) throw new ArgumentException($"k {k} must be between 1 and the training items ({trainX.shape[0]})");
        using var scope = NewDisposeScope();
        var (train, test) = Prepare(trainX, testX, standardise);
        var sim = test.matmul(train.t());                                                 // [Nt,Ntr]: the one matrix multiply
        var (values, indices) = sim.topk(ks.Max(), dim: 1);                                 // [Nt,kmax], most similar first
        long nt = testX.shape[0];
        var neighbourLabels = trainY.to(ScalarType.Int64).to(sim.device).index_select(0, indices.flatten()).view(nt, -1);
        var similarity = values.to(ScalarType.Float64);
        var predictions = ks.Select(k =>
        {
            var oneHot = nn.functional.one_hot(neighbourLabels[.., ..k], classes).to(ScalarType.Float64);   // [Nt,k,C]
            var votes = oneHot.sum(1);                                                                       // [Nt,C]
            var summed = (oneHot * similarity[.., ..k].unsqueeze(2)).sum(1);                               // in [-k, k]
            // Votes first: a class with one more vote gains 2k+1, more than any difference of summed similarity (≤ 2k).
            return (votes * (2 * k + 1) + summed).argmax(1);
        }).ToArray();
        return stack(predictions).cpu().MoveToOuterDisposeScope();
    }

    /// <summary>Top-1 accuracy (fraction) per k of <see cref="Predict"/>.</summary>
    public static double[] Accuracies(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes, IReadOnlyList<int> ks, bool standardise = true)
    {
        using var scope = NewDisposeScope();
        var predictions = Predict(trainX, trainY, testX, classes, ks, standardise);
        var right = predictions.eq(testY.to(ScalarType.Int64).cpu().unsqueeze(0)).to(ScalarType.Float64).mean([1]);
        return right.data<double>().ToArray();
    }

    /// <summary>
    /// The features the cosine compares: <paramref name="reference"/> and <paramref name="other"/> standardised with the
    /// reference's per-dimension mean and (biased) std + 1e-6 when <paramref name="standardise"/>, then L2-normalised per row.
    /// </summary>
    public static (Tensor Reference, Tensor Other) Prepare(Tensor reference, Tensor other, bool standardise)
    {
        var r = reference.to(ScalarType.Float32);
        var o = other.to(ScalarType.Float32);
        if (standardise)
        {
            var mean = r.mean([0]);
            var std = r.std(0, unbiased: false) + 1e-6f;
            r = (r - mean) / std;
            o = (o - mean) / std;
        }
        return (nn.functional.normalize(r, p: 2, dim: 1), nn.functional.normalize(o, p: 2, dim: 1));
    }
}
