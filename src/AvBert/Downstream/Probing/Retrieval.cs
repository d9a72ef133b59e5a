using static TorchSharp.torch;

namespace AvBert.Downstream.Probing;

/// <summary>Instance retrieval (query i belongs with key i): recall at 1, 5 and 10 and the median rank of the own key.</summary>
public sealed record PairRecall(double R1, double R5, double R10, double MedianRank, int Queries);

/// <summary>Class retrieval (a hit when a retrieved item has the query's class): recall at 1, 5 and 10.</summary>
public sealed record ClassRecall(double R1, double R5, double R10, int Queries);

/// <summary>
/// Retrieval metrics on score matrices (higher = better match).
/// <list type="bullet">
/// <item>Instance retrieval (<see cref="Ranks"/>, <see cref="Pairs"/>): query i's match is key i, its rank is 1 + the number
/// of other keys scoring at least as high (ties count against the query). Cross-modal: audio→video through the correct-pair
/// head, and the transposed matrix for video→audio.</item>
/// <item>Class retrieval (<see cref="ByClass"/>): leave-one-out cosine retrieval among labelled items; R@K = the fraction of
/// queries with an item of their own class among their K nearest others (AVID/XDC's video retrieval on UCF101/HMDB51).</item>
/// </list>
/// </summary>
public static class Retrieval
{
    /// <summary>The rank (1 = best) of each query's own key in a score matrix [Nq, Nk] with Nq ≤ Nk (query i belongs with
    /// key i): Nk minus the number of keys scoring strictly below it, so ties count against the query and a NaN own score
    /// ranks last. [Nq] int64.</summary>
    public static Tensor Ranks(Tensor scores)
    {
        if (scores.dim() != 2 || scores.shape[0] > scores.shape[1])
            throw new ArgumentException($"scores must be [Nq,Nk] with Nq <= Nk, got [{string.Join(",", scores.shape)}]");
        using var scope = NewDisposeScope();
        long n = scores.shape[0];
        var s = scores.to(ScalarType.Float32);
        var own = s.gather(1, arange(n, device: s.device).unsqueeze(1));                 // [N,1]
        return s.lt(own).sum(1).neg().add(scores.shape[1]).to(ScalarType.Int64).cpu().MoveToOuterDisposeScope();
    }

    /// <summary>Recall@k: the fraction of queries whose own key ranks k or better (<see cref="Ranks"/>).</summary>
    public static double RecallAt(Tensor scores, int k)
    {
        using var ranks = Ranks(scores);
        return RecallAt(ranks.data<long>().ToArray(), k);
    }

    /// <summary>
    /// Recall@1: a query is right only when its own key scores strictly above every other key.
    /// </summary>
    public static double RecallAt1(Tensor scores) => RecallAt(scores, 1);

    /// <summary>R@1, R@5, R@10 and the median rank (the mean of the two middle ranks for an even count) of a score matrix.</summary>
    public static PairRecall Pairs(Tensor scores)
    {
        using var ranks = Ranks(scores);
        var r = ranks.data<long>().ToArray();
        return new PairRecall(RecallAt(r, 1), RecallAt(r, 5), RecallAt(r, 10), Median(r), r.Length);
    }

    static double RecallAt(long[] ranks, int k) => ranks.Length == 0 ? 0 : ranks.Count(x => x <= k) / (double)ranks.Length;

    static double Median(long[] values)
    {
        if (values.Length == 0) return double.NaN;
        var v = values.Order().ToArray();
        int m = v.Length / 2;
        return v.Length % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2.0;
    }

    /// <summary>
    /// Leave-one-out class retrieval over <paramref name="features"/> [N,D] with integer <paramref name="labels"/> [N]: each
    /// item queries the other N−1 by cosine similarity (features standardised with their own mean and std first when
    /// <paramref name="standardise"/>, see <see cref="KnnClassifier.Prepare"/>); R@K = the fraction of queries with an item
    /// of their class among the K nearest (K capped at N−1). Equal similarities are taken in topk's order.
    /// </summary>
    public static ClassRecall ByClass(Tensor features, Tensor labels, bool standardise = true)
    {
        long n = features.shape[0];
        if (n < 2) throw new ArgumentException("class retrieval needs at least two items");
        using var scope = NewDisposeScope();
        var (x, _) = KnnClassifier.Prepare(features, features, standardise);
        var sim = x.matmul(x.t());
        sim = sim.masked_fill(eye(n, dtype: ScalarType.Bool, device: sim.device), float.NegativeInfinity); // leave the query out
        int kmax = (int)Math.Min(10, n - 1);
        var nearest = sim.topk(kmax, dim: 1).indexes;                                  // [N,kmax]
        var y = labels.to(ScalarType.Int64).cpu();
        var same = y.index_select(0, nearest.flatten()).view(n, kmax).eq(y.unsqueeze(1)); // [N,kmax]
        double At(int k) => same[.., ..Math.Min(k, kmax)].any(1).to(ScalarType.Float64).mean().item<double>();
        return new ClassRecall(At(1), At(5), At(10), (int)n);
    }

    /// <summary>Cosine similarity matrix [Nq,Nk] between queries [Nq,D] and keys [Nk,D].</summary>
    public static Tensor CosineScores(Tensor queries, Tensor keys)
    {
        using var scope = NewDisposeScope();
        var q = nn.functional.normalize(queries.to(ScalarType.Float32), p: 2, dim: 1);
        var k = nn.functional.normalize(keys.to(ScalarType.Float32), p: 2, dim: 1);
        return q.matmul(k.t()).MoveToOuterDisposeScope();
    }

    /// <summary>Recall@1 of queries [N,D] against keys [N,D] by cosine similarity.</summary>
    public static double CosineRecallAt1(Tensor queries, Tensor keys)
    {
        using var scores = CosineScores(queries, keys);
        return RecallAt1(scores);
    }
}
