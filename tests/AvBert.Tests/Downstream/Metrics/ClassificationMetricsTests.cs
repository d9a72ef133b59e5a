using AvBert.Downstream.Metrics;

namespace AvBert.Tests.Downstream.Metrics;

public class ClassificationMetricsTests
{
    // 3 videos, 4 classes. v0 right; v1 right only at top-2; v2 tied between class 0 and 1: the tie goes to class 0 (wrong).
    static readonly float[][] Scores =
    [
        [0.1f, 0.6f, 0.2f, 0.1f],
        [0.5f, 0.2f, 0.25f, 0.05f],
        [0.3f, 0.3f, 0.2f, 0.2f],
    ];
    static readonly int[][] Labels = [[1], [2], [1]];

    [Fact]
    public void Top_k_counts_videos_with_a_true_label_among_the_k_best()
    {
        Assert.Equal(1.0 / 3, ClassificationMetrics.TopK(Scores, Labels, 1), 12);
        Assert.Equal(1.0, ClassificationMetrics.TopK(Scores, Labels, 2), 12);
        Assert.Equal(1.0, ClassificationMetrics.TopK(Scores, Labels, 5), 12);   // k beyond the class count
    }

    [Fact]
    public void Ties_go_to_the_lower_class_index()
    {
        Assert.Equal([0, 1, 2, 3], ClassificationMetrics.Ranking(Scores[2]));
    }

    [Fact]
    public void Mean_class_accuracy_averages_only_classes_that_have_videos()
    {
        var perClass = ClassificationMetrics.PerClassAccuracy(Scores, Labels, 4);
        Assert.True(double.IsNaN(perClass[0]));
        Assert.Equal(0.5, perClass[1], 12);     // v0 right, v2 wrong
        Assert.Equal(0.0, perClass[2], 12);     // v1 wrong
        Assert.True(double.IsNaN(perClass[3]));
        Assert.Equal(0.25, ClassificationMetrics.MeanClassAccuracy(Scores, Labels, 4), 12);
    }

    [Fact]
    public void Confusion_matrix_rows_are_true_classes_columns_top1()
    {
        var m = ClassificationMetrics.ConfusionMatrix(Scores, Labels, 4);
        Assert.Equal(1, m[1, 1]);
        Assert.Equal(1, m[2, 0]);
        Assert.Equal(1, m[1, 0]);
        Assert.Equal(3, m.Cast<int>().Sum());
    }

    [Fact]
    public void Average_precision_matches_scikit_learns_example()
    {
        // sklearn docs: average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333...
        Assert.Equal(5.0 / 6, ClassificationMetrics.AveragePrecision([0.1f, 0.4f, 0.35f, 0.8f], [false, false, true, true]), 12);
    }

    [Fact]
    public void Average_precision_takes_tied_scores_as_one_threshold()
    {
        // Threshold 0.5 admits one positive and one negative at once: P=1/2, R=1/2; then 0.2: P=2/3, R=1.
        // AP = 0.5·0.5 + 0.5·(2/3) = 7/12 (sklearn gives the same).
        Assert.Equal(7.0 / 12, ClassificationMetrics.AveragePrecision([0.5f, 0.5f, 0.2f], [true, false, true]), 12);
    }

    [Fact]
    public void Average_precision_without_positives_is_undefined()
    {
        Assert.True(double.IsNaN(ClassificationMetrics.AveragePrecision([0.5f, 0.1f], [false, false])));
    }

    [Fact]
    public void Map_is_the_mean_over_classes_with_a_positive()
    {
        float[][] scores =
        [
            [0.9f, 0.2f, 0.1f],
            [0.8f, 0.7f, 0.3f],
            [0.3f, 0.6f, 0.2f],
            [0.6f, 0.1f, 0.4f],
        ];
        int[][] labels = [[0], [0, 1], [1], [1]];
        var ap = ClassificationMetrics.PerClassAveragePrecision(scores, labels, 3);
        Assert.Equal(1.0, ap[0], 12);                           // both positives ranked first
        Assert.Equal(1.0 / 3 + 1.0 / 3 + 1.0 / 3 * 3 / 4, ap[1], 12); // ranks 1, 2, 4 of 4: 11/12
        Assert.True(double.IsNaN(ap[2]));                       // no positive: left out of the mean
        Assert.Equal((1.0 + 11.0 / 12) / 2, ClassificationMetrics.MeanAveragePrecision(scores, labels, 3), 12);
        // Multi-label top-1: a hit when the best class is any of the video's labels (v3's best, class 0, is not).
        Assert.Equal(0.75, ClassificationMetrics.TopK(scores, labels, 1), 12);
    }

    [Fact]
    public void Labels_outside_the_classes_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.TopK([[0.5f, 0.5f]], [[2]], 1));
    }
}
