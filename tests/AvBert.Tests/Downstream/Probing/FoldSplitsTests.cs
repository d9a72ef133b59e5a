using AvBert.Downstream.Probing;

namespace AvBert.Tests.Downstream.Probing;

public class FoldSplitsTests
{
    // 23 items of 3 classes of unequal sizes (10, 8, 5), interleaved.
    static readonly int[] Labels = Enumerable.Range(0, 23).Select(i => i < 15 ? i % 3 : i < 20 ? i % 2 : 0).ToArray();

    [Fact]
    public void Stratified_folds_spread_every_class_evenly_and_have_near_equal_sizes()
    {
        var fold = FoldSplits.Stratified(Labels, 5, seed: 0);
        Assert.All(fold, f => Assert.InRange(f, 0, 4));
        foreach (var cls in Labels.Distinct())
        {
            var perFold = Enumerable.Range(0, 5).Select(f => Enumerable.Range(0, Labels.Length).Count(i => Labels[i] == cls && fold[i] == f)).ToArray();
            Assert.True(perFold.Max() - perFold.Min() <= 1, $"class {cls}: {string.Join(",", perFold)}");
        }
        var sizes = Enumerable.Range(0, 5).Select(f => fold.Count(x => x == f)).ToArray();
        Assert.True(sizes.Max() - sizes.Min() <= 1, string.Join(",", sizes));
    }

    [Fact]
    public void Stratified_folds_are_deterministic_per_seed_and_differ_across_seeds()
    {
        Assert.Equal(FoldSplits.Stratified(Labels, 5, 3), FoldSplits.Stratified(Labels, 5, 3));
        Assert.NotEqual(FoldSplits.Stratified(Labels, 5, 3), FoldSplits.Stratified(Labels, 5, 4));
    }

    [Fact]
    public void K_fold_tests_every_item_exactly_once_per_repeat_and_never_trains_on_it()
    {
        var folds = FoldSplits.KFold(Labels, 4, repeats: 2, seed: 1);
        Assert.Equal(8, folds.Count);
        Assert.Equal(["r1-f1", "r1-f2", "r1-f3", "r1-f4", "r2-f1"], folds.Take(5).Select(f => f.Name));
        foreach (var repeat in folds.Chunk(4))
        {
            Assert.Equal(Enumerable.Range(0, Labels.Length), repeat.SelectMany(f => f.Test).Order());           // covering, disjoint tests
            foreach (var f in repeat)
            {
                Assert.Empty(f.Train.Intersect(f.Test));                                                      // disjoint train/test
                Assert.Equal(Enumerable.Range(0, Labels.Length), f.Train.Concat(f.Test).Order());
            }
        }
        Assert.NotEqual(folds[0].Test, folds[4].Test);                                                       // the repeat reshuffles
    }

    [Fact]
    public void Source_folds_and_splits_are_used_as_given()
    {
        var byFold = FoldSplits.LeaveOneFoldOut([1, 2, 1, null, 2, 3]);
        Assert.Equal(["fold-1", "fold-2", "fold-3"], byFold.Select(f => f.Name));
        Assert.Equal([0, 2], byFold[0].Test);
        Assert.Equal([1, 4, 5], byFold[0].Train);                                                            // item 3 has no fold: unused
        var split = FoldSplits.TrainTest(["train", "test", null, "train"]);
        Assert.Equal([0, 3], split.Train);
        Assert.Equal([1], split.Test);
    }
}
