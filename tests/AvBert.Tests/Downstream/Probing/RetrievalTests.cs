using AvBert.Downstream.Probing;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream.Probing;

public class RetrievalTests
{
    [Fact]
    public void Ranks_recall_and_median_rank_on_a_hand_made_score_matrix()
    {
        // Own key (diagonal) ranks: q0 1st; q1 3rd (keys 0 and 3 above it); q2 tied with key 0 → 2nd (ties count
        // against the query); q3 6th (every other key above it); q4 1st; q5 ranks 2nd.
        var scores = tensor(new float[,]
        {
            { 9, 1, 1, 1, 1, 1 },
            { 5, 4, 1, 6, 0, 0 },
            { 7, 0, 7, 0, 0, 0 },
            { 5, 5, 5, 1, 5, 5 },
            { 0, 0, 0, 0, 3, 0 },
            { 0, 0, 0, 0, 8, 2 },
        });
        Assert.Equal(new long[] { 1, 3, 2, 6, 1, 2 }, Retrieval.Ranks(scores).data<long>().ToArray());
        var r = Retrieval.Pairs(scores);
        Assert.Equal(2.0 / 6, r.R1, 9);
        Assert.Equal(5.0 / 6, r.R5, 9);
        Assert.Equal(1.0, r.R10, 9);
        Assert.Equal(2.0, r.MedianRank, 9);                                                 // ranks 1 1 2 2 3 6
        Assert.Equal(r.R1, Retrieval.RecallAt1(scores), 9);
        // Video→audio is the transpose (rows = the columns above): e.g. video 4's column 1 0 0 5 3 8 puts its own audio 3rd.
        Assert.Equal(new long[] { 1, 2, 1, 3, 3, 2 }, Retrieval.Ranks(scores.t()).data<long>().ToArray());
    }

    [Fact]
    public void Median_rank_of_an_odd_count_is_the_middle_rank_and_a_nan_score_ranks_last()
    {
        var scores = tensor(new float[,] { { 1, 2, 3 }, { 0, 5, 1 }, { 0, 0, float.NaN } });
        Assert.Equal(new long[] { 3, 1, 3 }, Retrieval.Ranks(scores).data<long>().ToArray());
        Assert.Equal(3.0, Retrieval.Pairs(scores).MedianRank);
    }

    [Fact]
    public void Class_retrieval_counts_a_hit_when_a_near_neighbour_has_the_querys_class()
    {
        // Unit vectors at angles 0, 10, 20 (class 0), 180, 170 (class 1) and 100 (class 0), no standardisation.
        static Tensor At(params double[] degrees) =>
            tensor(degrees.SelectMany(d => new[] { (float)Math.Cos(d * Math.PI / 180), (float)Math.Sin(d * Math.PI / 180) }).ToArray()).view(-1, 2);
        var x = At(0, 10, 20, 180, 170, 100);
        var y = tensor(new long[] { 0, 0, 0, 1, 1, 0 });
        var r = Retrieval.ByClass(x, y, standardise: false);
        // Item 5 (100°): its nearest other is 170° (70° away, class 1): a miss at R@1; 20° (80° away, class 0) is among
        // its 5 nearest: a hit at R@5. Every other item's nearest other shares its class.
        Assert.Equal(5.0 / 6, r.R1, 9);
        Assert.Equal(1.0, r.R5, 9);
        Assert.Equal(1.0, r.R10, 9);                                                        // K capped at N−1 = 5
        Assert.Equal(6, r.Queries);
    }
}
