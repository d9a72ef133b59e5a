using AvBert.Config;
using AvBert.Data;
using AvBert.Training;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Downstream.Evaluation;

/// <summary>Video-level predictions of a test pass: one score row and one label set per video that had at least one view.</summary>
/// <param name="Items">Dataset item (video) index of each row.</param>
/// <param name="ViewCounts">Views whose probabilities were combined into each row (temporal views × spatial crops).</param>
public sealed record VideoPredictions(IReadOnlyList<int> Items, IReadOnlyList<string> Paths, float[][] Scores, int[][] Labels, int[] ViewCounts);

/// <summary>
/// Runs a <see cref="ClassificationTask"/> over every test view of a dataset (model in eval mode, no gradients): the task's
/// probabilities of each view (softmax or sigmoid, averaged over the heads, in float32), aggregated per video with
/// <see cref="ViewAggregator"/>. The forward runs in <c>precision</c>'s region (the run's train.precision; null: fp32).
/// Videos whose file could not be decoded are left out (reported by the loader). <c>forward</c>, when given, computes the
/// logits instead of the model (the ONNX Runtime path of `predict --runtime onnx`, docs/export.md).
/// </summary>
public static class Evaluator
{
    public static VideoPredictions Run(ClassificationTask task, VideoSequenceDataset dataset, ViewEnsemble ensemble, int batchSize,
                                       int workers = 0, SkippedLog? skipped = null, Action<int, int>? onBatch = null,
                                       MixedPrecision? precision = null, CancellationToken ct = default,
                                       Func<Tensor?, Tensor?, IReadOnlyList<Tensor>>? forward = null)
    {
        var model = task.Model;
        var loader = new BatchLoader(dataset, new LoaderOptions { BatchSize = batchSize, Shuffle = false, Workers = workers }, skipped);
        var aggregator = new ViewAggregator(dataset.Items.Count, task.Objective.NumClasses, ensemble);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            int done = 0;
            using var _ = no_grad();
            foreach (var batch in loader.Epoch(0, 0, ct))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    var probs = task.Probabilities(batch, precision, forward);   // [B·T, C]: every clip of every sample is a view
                    long perSample = probs.shape[0] / batch.Count;
                    var videos = new int[probs.shape[0]];
                    for (int i = 0; i < videos.Length; i++) videos[i] = batch.ItemIndices[i / perSample];
                    aggregator.Add(videos, probs);
                }
                done += batch.Count;
                onBatch?.Invoke(done, dataset.Count);
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }

        var scores = aggregator.Scores();
        var seen = Enumerable.Range(0, dataset.Items.Count).Where(i => aggregator.ViewCounts[i] > 0).ToList();
        return new VideoPredictions(seen, seen.Select(i => dataset.Items[i].Path).ToList(), seen.Select(i => scores[i]).ToArray(),
                                    seen.Select(i => dataset.Items[i].Labels).ToArray(), seen.Select(i => aggregator.ViewCounts[i]).ToArray());
    }
}
