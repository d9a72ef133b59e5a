using static TorchSharp.torch;

namespace AvBert.Downstream.Probing;

/// <summary>Cross-modal retrieval: query i's match is key i; a query is right at rank 1 when its own key scores highest.</summary>
public static class Retrieval
{
    /// <summary>
    /// Recall@1 from a score matrix [Nq, Nk] (higher = better match; query i belongs with key i). Ties count against the
    /// query: it is right only when its own key scores strictly above every other key.
    /// </summary>
    public static double RecallAt1(Tensor scores)
    {
        if (scores.dim() != 2 || scores.shape[0] > scores.shape[1])
            throw new ArgumentException($"scores must be [Nq,Nk] with Nq <= Nk, got [{string.Join(",", scores.shape)}]");
        using var scope = NewDisposeScope();
        long n = scores.shape[0];
        var s = scores.to(ScalarType.Float32);
        var own = s.gather(1, arange(n, device: s.device).unsqueeze(1));                 // [N,1]
        var others = s.clone();
        others[arange(n, device: s.device), arange(n, device: s.device)] = tensor(float.NegativeInfinity);
        var right = own.squeeze(1).gt(others.max(1).values);
        return right.to(ScalarType.Float64).mean().item<double>();
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
