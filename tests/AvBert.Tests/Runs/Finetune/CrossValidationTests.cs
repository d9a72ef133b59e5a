using System.Text.Json;
using AvBert.Config;
using AvBert.Downstream.Metrics;
using AvBert.Runs;
using AvBert.Runtime;
using AvBert.Tests.Data.Sources;

namespace AvBert.Tests.Runs;

/// <summary>`finetune --folds`: which folds or official splits run, each one's training and test videos, and crossval.json (mean ± std).</summary>
public sealed class CrossValidationTests : IDisposable
{
    readonly string _root = TestSetup.TempDir("crossval");
    public void Dispose() => Directory.Delete(_root, true);

    static AvBertConfig Task(DownstreamTask task) => new() { Downstream = new DownstreamConfig { Task = task } };

    FinetuneOptions Options(string data, string folds) => new() { RunDir = Path.Combine(_root, "run"), Data = data, Folds = folds };

    /// <summary>UCF101's layout with 2 classes × 5 videos (placeholders); split k tests on the videos i with i % 3 == k − 1.</summary>
    public static string Ucf101Like(string root, Func<string, int, string>? video = null)
    {
        string[] classes = ["Drumming", "YoYo"];
        Layout.Write(root, "ucfTrainTestlist/classInd.txt", "1 Drumming\n2 YoYo\n");
        for (int k = 1; k <= 3; k++)
        {
            var train = new List<string>();
            var test = new List<string>();
            for (int c = 0; c < classes.Length; c++)
                for (int i = 0; i < 5; i++)
                {
                    var rel = $"{classes[c]}/v_{classes[c]}_g{i + 1:00}_c01.mp4";
                    (i % 3 == k - 1 ? test : train).Add(i % 3 == k - 1 ? rel : $"{rel} {c + 1}");
                }
            Layout.Write(root, $"ucfTrainTestlist/trainlist{k:00}.txt", string.Join("\n", train) + "\n");
            Layout.Write(root, $"ucfTrainTestlist/testlist{k:00}.txt", string.Join("\n", test) + "\n");
        }
        for (int c = 0; c < classes.Length; c++)
            for (int i = 0; i < 5; i++)
            {
                var rel = $"UCF-101/{classes[c]}/v_{classes[c]}_g{i + 1:00}_c01.mp4";
                if (video is null) Layout.Touch(root, rel);
                else
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, rel))!);
                    File.Copy(video(classes[c], i), Path.Combine(root, rel));
                }
            }
        return "ucf101:" + root;
    }

    [Fact]
    public void Folds_all_on_ucf101_runs_its_three_official_splits_with_their_own_lists()
    {
        var data = Ucf101Like(Path.Combine(_root, "ucf"));
        var plan = CrossValidation.Choose(Task(DownstreamTask.Visual), Options(data, "all"));
        Assert.NotNull(plan);
        Assert.Equal([1, 2, 3], plan!.Folds);
        Assert.Equal("split", plan.Kind);
        for (int k = 1; k <= 3; k++)
        {
            var (train, test) = plan.Split(k);
            var expectTest = Enumerable.Range(0, 5).Where(i => i % 3 == k - 1).Select(i => $"g{i + 1:00}").ToList();
            Assert.All(test.Items, i => Assert.Contains(expectTest, g => i.Path.Contains($"_{g}_")));
            Assert.Equal(2 * expectTest.Count, test.Items.Count);
            Assert.Equal(10 - test.Items.Count, train.Items.Count);
            Assert.Empty(train.Items.Select(i => i.Path).Intersect(test.Items.Select(i => i.Path)));
        }
        Assert.Equal([1, 3], CrossValidation.Choose(Task(DownstreamTask.Visual), Options(data, "3,1"))!.Folds.Order());
        Assert.Null(CrossValidation.Choose(Task(DownstreamTask.Visual), Options(data, "auto")));   // one split unless asked
        Assert.Contains("'4' is not one of the source's folds (1, 2, 3)",
                        Assert.Throws<UserError>(() => CrossValidation.Choose(Task(DownstreamTask.Visual), Options(data, "4"))).Message);
        Assert.Contains("drop ',fold=N'",
                        Assert.Throws<UserError>(() => CrossValidation.Choose(Task(DownstreamTask.Visual), Options(data + ",fold=2", "all"))).Message);
    }

    [Fact]
    public void Esc50_cross_validates_over_its_five_folds_by_default()
    {
        var rows = new List<string> { "filename,fold,target,category,esc10,src_file,take" };
        for (int f = 1; f <= 5; f++)
            for (int c = 0; c < 2; c++)
            {
                var name = $"{f}-{100 + c}-A-{c}.wav";
                Layout.Touch(_root, "esc/audio/" + name);
                rows.Add($"{name},{f},{c},{(c == 0 ? "dog" : "rain")},False,{100 + c},A");
            }
        Layout.Write(_root, "esc/meta/esc50.csv", string.Join("\n", rows) + "\n");
        var plan = CrossValidation.Choose(Task(DownstreamTask.Audio), Options("esc50:" + Path.Combine(_root, "esc"), "auto"));
        Assert.Equal([1, 2, 3, 4, 5], plan!.Folds);
        Assert.Equal("fold", plan.Kind);
        var (train, test) = plan.Split(3);
        Assert.Equal(2, test.Items.Count);
        Assert.All(test.Items, i => Assert.Equal(3, i.Fold));
        Assert.Equal(8, train.Items.Count);
    }

    [Fact]
    public void Crossval_json_keeps_each_fold_and_their_mean_and_sample_std()
    {
        var run = Path.Combine(_root, "cv");
        Directory.CreateDirectory(run);
        static FinetuneResult Fold(int n, double top1) =>
            new($"fold-{n}", "", "", new EvaluationReport(10, top1, 1.0, top1, null, [], new int[0, 0]), 1, 1);
        var stats = CrossValidation.Write(run, [Fold(1, 0.5), Fold(2, 0.7), Fold(3, 0.9)])!;
        Assert.Equal(3, stats.Count);
        Assert.Equal(0.7, stats.Mean["top1"], 9);
        Assert.Equal(0.2, stats.Std["top1"], 9);                         // sample std: sqrt((0.04 + 0 + 0.04) / 2)
        Assert.Equal(0.0, stats.Std["top5"], 9);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "crossval.json")));
        Assert.Equal(["fold-1", "fold-2", "fold-3"], doc.RootElement.GetProperty("folds").EnumerateObject().Select(p => p.Name));
        Assert.Equal(0.9, doc.RootElement.GetProperty("folds").GetProperty("fold-3").GetProperty("top1").GetDouble(), 9);
        Assert.Equal(0.7, doc.RootElement.GetProperty("mean").GetProperty("top1").GetDouble(), 6);
        Assert.Equal(0.2, doc.RootElement.GetProperty("std").GetProperty("top1").GetDouble(), 6);
    }
}
