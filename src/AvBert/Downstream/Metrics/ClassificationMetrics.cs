namespace AvBert.Downstream.Metrics;

/// <summary>
/// Video-level classification metrics on plain arrays: one score row per video (probabilities or any scores where
/// higher means more likely) and the video's true labels (one for single-label tasks, any number for multi-label).
/// Ties in a score row are broken by class index (lower first), so results are deterministic.
/// </summary>
public static class ClassificationMetrics
{
    /// <summary>Class indices of a score row, best first (ties: lower index first).</summary>
    public static int[] Ranking(float[] scores)
    {
        var order = Enumerable.Range(0, scores.Length).ToArray();
        Array.Sort(order, (a, b) => scores[a] != scores[b] ? scores[b].CompareTo(scores[a]) : a.CompareTo(b));
        return order;
    }

    /// <summary>Fraction of videos with at least one true label among the k best-scored classes (1 when k ≥ classes).</summary>
    public static double TopK(IReadOnlyList<float[]> scores, IReadOnlyList<int[]> labels, int k)
    {
        CheckShapes(scores, labels);
        if (scores.Count == 0) return double.NaN;
        int hits = 0;
        for (int i = 0; i < scores.Count; i++)
        {
            var top = Ranking(scores[i]).Take(k).ToHashSet();
            if (labels[i].Any(top.Contains)) hits++;
        }
        return (double)hits / scores.Count;
    }

    /// <summary>
    /// Per class c: of the videos labelled c, the fraction whose top-1 class is one of their labels (single-label:
    /// the recall of class c). NaN for a class with no video.
    /// </summary>
    public static double[] PerClassAccuracy(IReadOnlyList<float[]> scores, IReadOnlyList<int[]> labels, int numClasses)
    {
        CheckShapes(scores, labels);
        var total = new int[numClasses];
        var correct = new int[numClasses];
        for (int i = 0; i < scores.Count; i++)
        {
            int top1 = Ranking(scores[i])[0];
            bool ok = labels[i].Contains(top1);
            foreach (var c in labels[i].Distinct())
            {
                total[c]++;
                if (ok) correct[c]++;
            }
        }
        return Enumerable.Range(0, numClasses).Select(c => total[c] == 0 ? double.NaN : (double)correct[c] / total[c]).ToArray();
    }

    /// <summary>Mean of <see cref="PerClassAccuracy"/> over the classes that have at least one video.</summary>
    public static double MeanClassAccuracy(IReadOnlyList<float[]> scores, IReadOnlyList<int[]> labels, int numClasses) =>
        MeanIgnoringNaN(PerClassAccuracy(scores, labels, numClasses));

    /// <summary>
    /// Average precision of one class, as scikit-learn's average_precision_score: AP = Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the
    /// distinct score thresholds, highest first (tied scores enter together). NaN when there is no positive.
    /// </summary>
    public static double AveragePrecision(IReadOnlyList<float> scores, IReadOnlyList<bool> positives)
    {
        if (scores.Count != positives.Count) throw new ArgumentException($"{scores.Count} scores but {positives.Count} labels.");
        int totalPositives = positives.Count(p => p);
        if (totalPositives == 0) return double.NaN;
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        double ap = 0, previousRecall = 0;
        int tp = 0, fp = 0;
        for (int i = 0; i < order.Length;)
        {
            // One threshold: every sample tied at this score enters at once.
            float s = scores[order[i]];
            for (; i < order.Length && scores[order[i]] == s; i++)
                if (positives[order[i]]) tp++; else fp++;
            double precision = (double)tp / (tp + fp), recall = (double)tp / totalPositives;
            ap += (recall - previousRecall) * precision;
            previousRecall = recall;
        }
        return ap;
    }

    /// <summary>AP of every class (NaN where the class has no positive video).</summary>
    public static double[] PerClassAveragePrecision(IReadOnlyList<float[]> scores, IReadOnlyList<int[]> labels, int numClasses)
    {
        CheckShapes(scores, labels);
        var result = new double[numClasses];
        for (int c = 0; c < numClasses; c++)
        {
            int cls = c;
            result[c] = AveragePrecision(scores.Select(r => r[cls]).ToArray(), labels.Select(l => l.Contains(cls)).ToArray());
        }
        return result;
    }

    /// <summary>mAP: mean AP over the classes with at least one positive video.</summary>
    public static double MeanAveragePrecision(IReadOnlyList<float[]> scores, IReadOnlyList<int[]> labels, int numClasses) =>
        MeanIgnoringNaN(PerClassAveragePrecision(scores, labels, numClasses));

    /// <summary>
    /// Counts [true class, predicted top-1 class]. A multi-label video counts once in the row of each of its labels.
    /// </summary>
    public static int[,] ConfusionMatrix(IReadOnlyList<float[]> scores, IReadOnlyList<int[]> labels, int numClasses)
    {
        CheckShapes(scores, labels);
        var m = new int[numClasses, numClasses];
        for (int i = 0; i < scores.Count; i++)
        {
            int top1 = Ranking(scores[i])[0];
            foreach (var c in labels[i].Distinct()) m[c, top1]++;
        }
        return m;
    }

    static double MeanIgnoringNaN(double[] values)
    {
        var present = values.Where(v => !double.IsNaN(v)).ToArray();
        return present.Length == 0 ? double.NaN : present.Average();
    }

    static void CheckShapes(IReadOnlyList<float[]> scores, IReadOnlyList<int[]> labels)
    {
        if (scores.Count != labels.Count) throw new ArgumentException($"{scores.Count} score rows but {labels.Count} label sets.");
        for (int i = 0; i < labels.Count; i++)
            foreach (var c in labels[i])
                if (c < 0 || c >= scores[i].Length)
                    throw new ArgumentException($"video {i}: label {c} is outside the {scores[i].Length} classes.");
    }
}
