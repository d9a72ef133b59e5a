using AvBert.Config;
using AvBert.Downstream.Evaluation;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream.Evaluation;

public class ViewAggregatorTests
{
    [Fact]
    public void Sum_ensemble_gives_the_mean_of_the_views()
    {
        var a = new ViewAggregator(2, 2, ViewEnsemble.Sum);
        a.Add([0, 0, 1], tensor(new float[] { 0.2f, 0.8f, 0.6f, 0.4f, 1f, 0f }, [3, 2]));
        var s = a.Scores();
        Assert.Equal(0.4f, s[0][0], 6);
        Assert.Equal(0.6f, s[0][1], 6);
        Assert.Equal([1f, 0f], s[1]);
        Assert.Equal([2, 1], a.ViewCounts);
    }

    [Fact]
    public void Max_ensemble_keeps_each_class_best_view()
    {
        var a = new ViewAggregator(1, 2, ViewEnsemble.Max);
        a.Add(0, [0.2f, 0.8f]);
        a.Add(0, [0.6f, 0.4f]);
        Assert.Equal([0.6f, 0.8f], a.Scores()[0]);
    }

    [Fact]
    public void Views_of_the_wrong_width_are_refused()
    {
        var a = new ViewAggregator(1, 3, ViewEnsemble.Sum);
        Assert.Throws<ArgumentException>(() => a.Add(0, [0.5f, 0.5f]));
    }
}
