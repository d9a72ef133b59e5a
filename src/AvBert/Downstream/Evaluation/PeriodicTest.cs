using AvBert.Downstream.Metrics;
using AvBert.Training;

namespace AvBert.Downstream.Evaluation;

/// <summary>
/// The held-out test while a task trains: every <c>evalEvery</c> epochs (0: only at the end) and after the last step,
/// each giving the trainer its test_* metrics and a line for the console (<see cref="TrainerOptions.AfterStep"/>).
/// </summary>
/// <param name="evaluate">One test pass over the held-out split.</param>
/// <param name="prefix">Put before the line ("fold-2: " in cross-validation).</param>
public sealed class PeriodicTest(Func<EvaluationReport> evaluate, long steps, int stepsPerEpoch, int evalEvery, string prefix)
{
    /// <summary>The report of the test after the last step; null until then.</summary>
    public EvaluationReport? Final { get; private set; }

    /// <summary>After step <paramref name="step"/>: the test's metrics and line when a test is due, else null.</summary>
    public StepNote? After(long step)
    {
        bool end = step == steps;
        long every = (long)evalEvery * stepsPerEpoch;
        if (!(end || (every > 0 && step % every == 0))) return null;
        var report = evaluate();
        if (end) Final = report;
        return new StepNote(Point(report), $"{prefix}epoch {step / stepsPerEpoch}: test top-1 {report.Top1:0.0000}, top-5 {report.Top5:0.0000}" +
                                           (report.MeanAveragePrecision is { } m ? $", mAP {m:0.0000}" : ""));
    }

    /// <summary>A test's values in the metrics log: test_top1, test_top5, test_mean_class_acc and (multi-label) test_mAP.</summary>
    public static Dictionary<string, double> Point(EvaluationReport r)
    {
        var p = new Dictionary<string, double> { ["test_top1"] = r.Top1, ["test_top5"] = r.Top5, ["test_mean_class_acc"] = r.MeanClassAccuracy };
        if (r.MeanAveragePrecision is { } m) p["test_mAP"] = m;
        return p;
    }
}
