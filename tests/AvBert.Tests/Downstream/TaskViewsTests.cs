using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Downstream.Evaluation;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Tests.Downstream;

public class TaskViewsTests
{
    static readonly Lazy<string> Video = new(() => TestMedia.Make(TestSetup.TempDir("task-views"), "clip",
        new TestMediaSpec { Seconds = 1, Width = 32, Height = 24, Fps = 15, SampleRate = 16000 }));

    /// <summary>Views actually combined into the video's prediction by a test pass with the task's test views.</summary>
    static int ViewsEvaluated(DownstreamTask task, int testClips, int testCrops)
    {
        var d = new DownstreamConfig { Task = task };
        d = d.With(task, d.Current with { TestClips = testClips, TestCrops = testCrops });
        using var model = TinyTransfer.Build(task, TransferProtocol.Finetune, classes: 2);
        var dataset = new VideoSequenceDataset(new MediaSource("one", [new MediaItem(Video.Value, [0])], ["a", "b"], false),
                                               TinyTransfer.Data, TaskViews.Test(d));
        var classification = new ClassificationTask(model, new ClassificationObjective(d.Current.Loss, d.Current.Margin, 2), CPU);
        var predictions = Evaluator.Run(classification, dataset, d.Current.Ensemble, TaskData.EvalBatchSize(d), workers: 1);
        int views = Assert.Single(predictions.ViewCounts);
        Assert.StartsWith($"{views} views", TaskViews.DescribeTestViews(d));   // the log says what was evaluated
        return views;
    }

    [Theory]
    [InlineData(DownstreamTask.Visual, 2)]
    [InlineData(DownstreamTask.Audio, 1)]
    [InlineData(DownstreamTask.Audiovisual, 2)]
    [InlineData(DownstreamTask.Multilabel, 1)]
    public void Test_clips_sets_the_temporal_views_of_every_task(DownstreamTask task, int crops)
    {
        // TinyTransfer.Data has data.sequence_length 3: the sequence tasks test on test_clips clips, not on that.
        Assert.Equal(2 * crops, ViewsEvaluated(task, testClips: 2, crops));
        Assert.Equal(5 * crops, ViewsEvaluated(task, testClips: 5, crops));
    }
}
