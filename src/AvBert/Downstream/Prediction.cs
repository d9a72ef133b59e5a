using System.Globalization;
using System.Text;
using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream.Evaluation;
using AvBert.Downstream.Metrics;
using AvBert.Training;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Downstream;

public sealed record ClassScore(string Name, double Probability);

/// <summary>A file's best classes, best first (probabilities: mean over test views; sigmoid per class for multilabel models).</summary>
public sealed record FilePrediction(string Path, IReadOnlyList<ClassScore> Top);

/// <summary>`avbert predict` as a library call: the task's test views of each file, aggregated, top-k class names.</summary>
public static class Prediction
{
    /// <summary>Predictions in the order of <paramref name="files"/> (in the model's train.precision); files that could not be
    /// decoded are reported to <paramref name="skipped"/> and left out. <paramref name="forward"/>: the logits from elsewhere
    /// (ONNX Runtime) instead of the model's forward.</summary>
    public static IReadOnlyList<FilePrediction> Run(TransferModel model, AvBertConfig config, IReadOnlyList<string> files, Device device,
                                                    int k = 5, int workers = 0, SkippedLog? skipped = null, CancellationToken ct = default,
                                                    Func<Tensor?, Tensor?, IReadOnlyList<Tensor>>? forward = null)
    {
        var d = config.Downstream;
        var t = d.Current;
        var items = files.Select(f => new MediaItem(Path.GetFullPath(f), [])).ToList();
        var dataset = new VideoSequenceDataset(items, config.Data, TaskViews.Test(d));
        var predictions = Evaluator.Run(ClassificationTask.For(model, d, device), dataset, t.Ensemble, TaskData.EvalBatchSize(d), workers, skipped,
                                        precision: forward is null ? MixedPrecision.For(config, device) : null, ct: ct, forward: forward);
        return predictions.Items.Select((item, row) => new FilePrediction(files[item], Top(predictions.Scores[row], d.ClassNames, k))).ToList();
    }

    public static IReadOnlyList<ClassScore> Top(float[] scores, IReadOnlyList<string> classNames, int k) =>
        ClassificationMetrics.Ranking(scores).Take(k).Select(c => new ClassScore(classNames[c], scores[c])).ToList();

    /// <summary>One line per video: path, true labels, top-5 "name:probability" (eval writes it beside metrics.json).</summary>
    public static void WriteTsv(string path, VideoPredictions predictions, IReadOnlyList<string> classNames)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("path\tlabels\ttop5\n");
        for (int i = 0; i < predictions.Scores.Length; i++)
        {
            var top = Top(predictions.Scores[i], classNames, 5).Select(s => $"{s.Name}:{s.Probability.ToString("0.0000", inv)}");
            sb.Append(predictions.Paths[i]).Append('\t')
              .Append(string.Join(';', predictions.Labels[i].Select(l => classNames[l]))).Append('\t')
              .Append(string.Join(' ', top)).Append('\n');
        }
        AvBert.Storage.AtomicFile.WriteAllText(path, sb.ToString());
    }
}
