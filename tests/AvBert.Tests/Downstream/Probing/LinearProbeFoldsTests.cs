using AvBert.Downstream.Probing;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream.Probing;

/// <summary><see cref="LinearProbe.FitFolds"/>: one batched fit gives each fold the probe <see cref="LinearProbe.Fit"/> gives it alone.</summary>
public class LinearProbeFoldsTests(ITestOutputHelper output)
{
    [Fact]
    public void Batched_k_fold_equals_a_fit_per_fold()
    {
        var (x, y) = Problem(seed: 11, n: 150, d: 24, classes: 4);
        var fold = FoldSplits.Stratified(y.data<long>().Select(l => (int)l).ToArray(), 5, seed: 3);
        var masks = Enumerable.Range(0, 5).Select(k => fold.Select(f => f != k).ToArray()).ToList();
        AssertSameAsSeparateFits(x, y, masks, classes: 4);
    }

    [Fact]
    public void Batched_folds_of_different_sizes_equal_a_fit_per_fold()
    {
        // Leave one of three unequal groups out (50, 30, 40 rows): folds of 70, 90 and 80 training rows.
        var (x, y) = Problem(seed: 12, n: 120, d: 16, classes: 3);
        var group = Enumerable.Range(0, 120).Select(i => i < 50 ? 0 : i < 80 ? 1 : 2).ToArray();
        var masks = Enumerable.Range(0, 3).Select(k => group.Select(g => g != k).ToArray()).ToList();
        AssertSameAsSeparateFits(x, y, masks, classes: 3);
    }

    [Fact]
    public void A_fold_of_every_row_beside_a_smaller_one_equals_a_fit_per_fold()
    {
        var (x, y) = Problem(seed: 13, n: 90, d: 12, classes: 3);
        var masks = new List<bool[]> { Enumerable.Repeat(true, 90).ToArray(), Enumerable.Range(0, 90).Select(i => i < 30).ToArray() };
        AssertSameAsSeparateFits(x, y, masks, classes: 3);
    }

    [Fact]
    public void Overlapping_folds_of_any_rows_equal_a_fit_per_fold()
    {
        // More sets of folds than folds (up to 8 kinds of rows for 4 folds): the fit takes every row for every fold,
        // zero-weighted where the fold does not train on it.
        var (x, y) = Problem(seed: 14, n: 120, d: 16, classes: 3);
        var rng = new Random(5);
        var masks = new List<bool[]>
        {
            Enumerable.Repeat(true, 120).ToArray(),
            Enumerable.Range(0, 120).Select(i => i < 40).ToArray(),
            Enumerable.Range(0, 120).Select(_ => rng.NextDouble() < 0.7).ToArray(),
            Enumerable.Range(0, 120).Select(i => i % 3 != 0).ToArray(),
        };
        AssertSameAsSeparateFits(x, y, masks, classes: 3);
    }

    [Fact]
    public void One_fold_is_Fit_on_its_rows()
    {
        var (x, y) = Problem(seed: 15, n: 60, d: 8, classes: 3);
        var mask = Enumerable.Range(0, 60).Select(i => i % 4 != 1).ToArray();
        var rows = tensor(Enumerable.Range(0, 60).Where(i => mask[i]).Select(i => (long)i).ToArray());
        using var alone = LinearProbe.Fit(x.index_select(0, rows), y.index_select(0, rows), 3);
        var batched = LinearProbe.FitFolds(x, y, [mask], 3);
        Assert.True(batched[0].Parameters.Weight.eq(alone.Parameters.Weight).all().item<bool>());
        Assert.True(batched[0].Parameters.Bias.eq(alone.Parameters.Bias).all().item<bool>());
    }

    [Fact]
    public void A_mask_of_the_wrong_length_or_with_no_rows_is_refused()
    {
        var (x, y) = Problem(seed: 16, n: 10, d: 4, classes: 2);
        Assert.Throws<ArgumentException>(() => LinearProbe.FitFolds(x, y, [new bool[9], new bool[10]], 2));
        Assert.Throws<ArgumentException>(() => LinearProbe.FitFolds(x, y, [Enumerable.Repeat(true, 10).ToArray(), new bool[10]], 2));
    }

    /// <summary>Each fold's probe of the batched fit against <see cref="LinearProbe.Fit"/> on the fold's rows alone: weights
    /// and biases to 1e-4 relative (of the largest), test accuracies on the other rows exactly.</summary>
    void AssertSameAsSeparateFits(Tensor x, Tensor y, IReadOnlyList<bool[]> masks, int classes)
    {
        var options = new LinearProbeOptions { Seed = 7 };
        var batched = LinearProbe.FitFolds(x, y, masks, classes, options);
        Assert.Equal(masks.Count, batched.Length);
        for (int k = 0; k < masks.Count; k++)
        {
            var train = tensor(Enumerable.Range(0, masks[k].Length).Where(i => masks[k][i]).Select(i => (long)i).ToArray());
            var testRows = Enumerable.Range(0, masks[k].Length).Where(i => !masks[k][i]).Select(i => (long)i).ToArray();
            using var alone = LinearProbe.Fit(x.index_select(0, train), y.index_select(0, train), classes, options);
            var (w, b) = batched[k].Parameters;
            var (w0, b0) = alone.Parameters;
            double scale = w0.abs().max().item<float>();
            Assert.True(scale > 0.05, $"fold {k}: the probe did not move from its init (max |w| {scale})");
            double dw = (w - w0).abs().max().item<float>() / scale, db = (b - b0).abs().max().item<float>() / scale;
            var test = tensor(testRows);
            double trainAccuracy = alone.Accuracy(x.index_select(0, train), y.index_select(0, train));
            double? testAccuracy = testRows.Length > 0 ? alone.Accuracy(x.index_select(0, test), y.index_select(0, test)) : null;
            output.WriteLine($"fold {k}: {masks[k].Count(m => m)} training rows (accuracy {trainAccuracy:0.000}, test {testAccuracy:0.000}), " +
                             $"max |w| {scale:g3}; the batched fit's weights differ by {dw:g3}, biases by {db:g3} relative");
            Assert.True(dw < 1e-4, $"fold {k}: weights differ by {dw:g3} relative");
            Assert.True(db < 1e-4, $"fold {k}: biases differ by {db:g3} relative");
            Assert.Equal(trainAccuracy, batched[k].Accuracy(x.index_select(0, train), y.index_select(0, train)));
            if (testAccuracy is not null) Assert.Equal(testAccuracy, batched[k].Accuracy(x.index_select(0, test), y.index_select(0, test)));
            batched[k].Dispose();
        }
    }

    /// <summary>Overlapping Gaussian classes (so that the probe does not separate them perfectly) with per-dimension
    /// offsets and scales far from standard, as pooled features have.</summary>
    internal static (Tensor X, Tensor Y) Problem(int seed, int n, int d, int classes)
    {
        var gen = new Generator((ulong)seed);
        var centres = randn([classes, d], generator: gen);
        var y = randint(0, classes, [n], generator: gen);
        var x = centres.index_select(0, y) + randn([n, d], generator: gen) * 1.5;
        var offset = rand([d], generator: gen) * 100;
        var scale = rand([d], generator: gen) * 10 + 0.1;
        return (x * scale + offset, y);
    }
}
