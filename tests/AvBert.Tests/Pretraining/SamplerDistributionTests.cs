using AvBert.Pretraining;
using static TorchSharp.torch;

namespace AvBert.Tests.Pretraining;

[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public class SamplerDistributionTests
{
    // Inclusion probability of each column in a sample of 2 without replacement, successive sampling ∝ w (what
    // torch.multinomial without replacement draws): P(i) = w_i/W + Σ_{j≠i} w_j/W · w_i/(W − w_j).
    static double[] InclusionOfTwo(double[] w)
    {
        double total = w.Sum();
        return w.Select((wi, i) => wi / total + w.Select((wj, j) => j == i ? 0 : wj / total * wi / (total - wj)).Sum()).ToArray();
    }

    [Fact]
    public void Without_replacement_rows_follow_successive_sampling()
    {
        manual_seed(21);
        double[] w = [1, 2, 3, 4, 0];
        const int rows = 40000;
        var weights = tensor(w.Select(x => (float)x).ToArray()).unsqueeze(0).expand(rows, w.Length).contiguous();
        var sample = NegativeSampler.SampleRows(weights, 2);                      // [rows, 2]
        Assert.Equal(new long[] { rows, 2 }, sample.shape);
        Assert.False((sample[.., 0] == sample[.., 1]).any().item<bool>());       // no repeats within a row
        Assert.False((sample == 4).any().item<bool>());                          // weight 0 never drawn
        var counts = bincount(sample.reshape(-1), minlength: w.Length).to(float64) / rows;
        var expected = InclusionOfTwo(w);
        for (int i = 0; i < w.Length; i++)
        {
            double p = expected[i], se = Math.Sqrt(p * (1 - p) / rows);
            Assert.True(Math.Abs(counts[i].item<double>() - p) <= 5 * se + 1e-9, $"column {i}: {counts[i].item<double>():F4} vs {p:F4}");
        }
        // The first draw alone is ∝ w (1/10, 2/10, …): the order of a row is the draw order.
        var first = bincount(sample[.., 0], minlength: w.Length).to(float64) / rows;
        for (int i = 0; i < w.Length; i++)
            Assert.True(Math.Abs(first[i].item<double>() - w[i] / 10) <= 5 * Math.Sqrt(0.25 / rows), $"first draw {i}");
    }

    [Fact]
    public void Rows_with_too_few_candidates_draw_with_replacement_in_proportion()
    {
        manual_seed(22);
        const int rows = 20000;
        // Row kind A: 2 eligible < K = 3 → with replacement, p = (1/4, 3/4); row kind B: 4 eligible → without replacement.
        var a = tensor(new float[] { 1, 3, 0, 0, 0 });
        var b = tensor(new float[] { 1, 1, 1, 1, 0 });
        var weights = stack([a.unsqueeze(0).expand(rows, 5), b.unsqueeze(0).expand(rows, 5)], 1).reshape(2 * rows, 5);
        var sample = NegativeSampler.SampleRows(weights, 3).reshape(rows, 2, 3);
        var sa = sample[.., 0];
        var sb = sample[.., 1];
        Assert.False((sa >= 2).any().item<bool>());
        double p1 = (sa == 1).to(float64).mean().item<double>();
        Assert.True(Math.Abs(p1 - 0.75) <= 5 * Math.Sqrt(0.75 * 0.25 / (3 * rows)), $"p(1) = {p1:F4}");
        // Without replacement: three distinct of the four, each included with probability 3/4.
        Assert.False(((sb[.., 0] == sb[.., 1]) | (sb[.., 0] == sb[.., 2]) | (sb[.., 1] == sb[.., 2])).any().item<bool>());
        Assert.False((sb == 4).any().item<bool>());
        var inc = bincount(sb.reshape(-1), minlength: 5).to(float64) / rows;
        for (int i = 0; i < 4; i++) Assert.True(Math.Abs(inc[i].item<double>() - 0.75) < 0.02, $"column {i}: {inc[i].item<double>():F4}");
    }

    [Fact]
    public void More_negatives_than_columns_still_gives_K_per_row()
    {
        manual_seed(23);
        var sample = NegativeSampler.SampleRows(tensor(new float[,] { { 0, 1, 2 } }), 8);
        Assert.Equal(new long[] { 1, 8 }, sample.shape);
        Assert.False((sample == 0).any().item<bool>());
    }
}
