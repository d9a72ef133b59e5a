using AvBert.Downstream.Probing;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream.Probing;

public class FeatureClassifiersTests
{
    [Fact]
    public void ScoreFolds_gives_each_fold_what_Score_gives_it_alone()
    {
        var (x, y) = LinearProbeFoldsTests.Problem(seed: 21, n: 90, d: 10, classes: 3);
        var folds = FoldSplits.KFold(y.data<long>().Select(l => (int)l).ToArray(), folds: 3, repeats: 1, seed: 4);
        var options = new ClassifierOptions { Ks = [1, 5] };
        var batched = FeatureClassifiers.ScoreFolds(x, y, folds, 3, options);
        Assert.Equal(folds.Count, batched.Length);
        for (int k = 0; k < folds.Count; k++)
        {
            var train = tensor(folds[k].Train.Select(i => (long)i).ToArray());
            var test = tensor(folds[k].Test.Select(i => (long)i).ToArray());
            var alone = FeatureClassifiers.Score(x.index_select(0, train), y.index_select(0, train), x.index_select(0, test), y.index_select(0, test), 3, options);
            Assert.Equal(alone.Linear, batched[k].Linear);
            Assert.Equal(alone.Knn, batched[k].Knn);
        }
    }
}
