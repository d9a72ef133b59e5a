using System.Globalization;
using System.Text.Json;
using AvBert.Config;
using AvBert.Runs;
using AvBert.Runtime;
using AvBert.Synthetic;
using AvBert.Tests.Downstream;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Model;
using AvBert.Training;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Tests.Runs;

/// <summary>
/// Labeled media written once for the end-to-end tests. Each class is decidable both from the picture (a solid colour)
/// and from the sound: red = a pure tone, green = white noise, blue = a square wave (a tone rich in harmonics) (pitches vary a little per file).
/// The sounds differ in kind, not only in pitch: a CNN that average-pools over frequency hardly tells a tone from the
/// same tone shifted, so pitch alone would make a poor audio class.
/// <list type="bullet">
/// <item><c>classes/</c>: train/CLASS/*.mp4 (3 per class) and test/CLASS/*.mp4 (2 per class).</item>
/// <item><c>folds.csv</c>: the 15 files of classes/ with a fold column (1 or 2) for cross-validation.</item>
/// <item><c>multilabel.csv</c>: colour × sound videos, each labelled {colour, sound}: red|blue from the picture,
/// tone|noise from the sound; train 2 per combination, test 1.</item>
/// </list>
/// </summary>
public sealed class LabeledMediaFixture
{
    public static readonly (string Name, string Colour, string Sound)[] Classes = [("red", "red", "tone"), ("green", "green", "noise"), ("blue", "blue", "square")];

    public string Root { get; } = TestSetup.TempDir("downstream-e2e");
    public string ClassesDir => Path.Combine(Root, "classes");
    public string FoldsCsv => Path.Combine(Root, "folds.csv");
    public string MultiLabelCsv => Path.Combine(Root, "multilabel.csv");

    public LabeledMediaFixture()
    {
        var folds = new List<string> { "path,label,fold" };
        foreach (var (split, count) in new[] { ("train", 3), ("test", 2) })
            foreach (var (name, colour, sound) in Classes)
                for (int i = 0; i < count; i++)
                {
                    var path = Make(Path.Combine(ClassesDir, split, name), $"{name}{i}", colour, sound, i);
                    folds.Add($"{Path.GetRelativePath(Root, path)},{name},{1 + (i + (split == "test" ? 1 : 0)) % 2}");
                }
        File.WriteAllLines(FoldsCsv, folds);

        var multi = new List<string> { "path,label,split" };
        foreach (var (split, count) in new[] { ("train", 2), ("test", 1) })
            foreach (var colour in new[] { "red", "blue" })
                foreach (var sound in new[] { "tone", "noise" })
                    for (int i = 0; i < count; i++)
                    {
                        var path = Make(Path.Combine(Root, "multi", split), $"{colour}-{sound}{i}", colour, sound, i + (split == "test" ? 3 : 0));
                        multi.Add($"{Path.GetRelativePath(Root, path)},{colour};{sound},{split}");
                    }
        File.WriteAllLines(MultiLabelCsv, multi);
    }

    /// <summary>1 s, 48×40 at 15 fps, mono 16 kHz AAC in MP4: a solid colour and a pure tone, white noise or a square wave.</summary>
    static string Make(string dir, string name, string colour, string sound, int variant)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name + ".mp4");
        var inv = CultureInfo.InvariantCulture;
        double f = 400 + 37 * variant;
        string audio = sound switch
        {
            "tone" => $"aevalsrc=exprs='0.4*sin(2*PI*{f.ToString(inv)}*t)':s=16000:d=1",
            "noise" => $"anoisesrc=d=1:c=white:r=16000:a=0.3:seed={1 + variant}",
            _ => $"aevalsrc=exprs='0.3*sgn(sin(2*PI*{f.ToString(inv)}*t))':s=16000:d=1",
        };
        TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", $"color=c={colour}:s=48x40:r=15:d=1", "-f", "lavfi", "-i", audio,
                       "-c:v", "mpeg4", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1", "-shortest", path]);
        return path;
    }

    /// <summary>
    /// A tiny model and clip geometry: the whole area's end-to-end runs take seconds each on 2 cores. BatchNorm statistics
    /// move faster than the default 0.1 (a run of 15 steps would otherwise test with running statistics still close to
    /// their initial values, far from the log-mel's: right in training, wrong at test).
    /// </summary>
    public static readonly string[] TinySets =
    [
        "model.visual.width_per_group=4", "model.audio.width_per_group=4", "model.visual.bn_momentum=0.3", "model.audio.bn_momentum=0.3",
        "model.transformer.hidden_size=32", "model.transformer.num_heads=2", "model.transformer.intermediate_size=64",
        "model.transformer.num_layers=1", "model.transformer.rank=8",
        "data.num_frames=4", "data.sampling_rate=2", "data.sequence_length=2", "data.train_crop_size=32", "data.test_crop_size=32",
        "data.train_jitter_scales=[32, 40]", "data.audio_sample_rate=16000", "data.audio_frequency=24", "data.audio_time=16",
        "downstream.log_every=5", "downstream.audiovisual.test_clips=2", "downstream.multilabel.test_clips=2",
    ];
}

/// <summary>
/// The downstream area end to end on real media files (the one slower test class of the area): fine-tuning from random
/// init on the visual, audio and audiovisual tasks reaches high held-out accuracy; a multi-label case reaches a high mAP;
/// linear evaluation with cross-validation over folds leaves the backbone bit-identical; eval, predict and extract work
/// on the results.
/// </summary>
[Collection(AvBert.Tests.Training.TorchRngCollection.Name)] // bit-for-bit and accuracy assertions: torch's global generator must not be shared with tests running alongside
public sealed class DownstreamEndToEndTests(LabeledMediaFixture media) : IClassFixture<LabeledMediaFixture>
{
    static AvBertConfig Config(params string[] sets) => ConfigLoader.Load("small", null, [.. LabeledMediaFixture.TinySets, .. sets]);

    static FinetuneSummary Finetune(AvBertConfig config, string data, string run, string? init = null, bool resume = false) =>
        FinetuneRun.Run(config, new FinetuneOptions
        {
            RunDir = run, Data = data, Init = init, Resume = resume, Device = CPU, Progress = ProgressMode.Off, Log = TextWriter.Null,
        });

    [Fact]
    public void Visual_finetuning_from_random_init_separates_the_classes_resumes_and_eval_predict_agree()
    {
        var run = TestSetup.TempDir("ft-visual");
        var data = "classes:" + media.ClassesDir;
        var cfg = FinetuneRun.PrepareRunDirectory(run, () => Config("downstream.task=visual", "downstream.visual.epochs=3",
            "downstream.visual.train_samples_per_video=1", "downstream.visual.batch_size=3", "downstream.visual.test_clips=2",
            "downstream.visual.test_crops=2", "downstream.visual.head_lr=0.01", "downstream.visual.backbone_lr=0.001"), null, resume: false);
        Assert.Equal(9, Finetune(cfg, data, run).Runs.Single().Steps);                       // 3 epochs × 3 steps
        Assert.Contains("--resume", Assert.Throws<AvBert.Runtime.UserError>(() =>
            FinetuneRun.PrepareRunDirectory(run, () => cfg, null, resume: false)).Message);

        // Resume with more epochs: continues from the last checkpoint (step 9) to step 15, and the logs read as one run.
        cfg = FinetuneRun.PrepareRunDirectory(run, () => throw new InvalidOperationException(), null, resume: true, ["downstream.visual.epochs=5"]);
        var result = Finetune(cfg, data, run, resume: true).Runs.Single();
        Assert.Equal(15, result.Steps);
        var steps = MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Where(r => r.Values.ContainsKey("loss")).Select(r => r.Step).ToList();
        Assert.Equal(steps.Order(), steps);
        Assert.Contains(steps, s => s <= 9);
        Assert.NotNull(result.Report);
        Assert.Equal(6, result.Report!.Count);
        Assert.True(result.Report.Top1 >= 0.83, $"visual top-1 {result.Report.Top1}");
        foreach (var f in new[] { "metrics.json", "confusion.png", "per_class.tsv", "loss.png", "metrics.jsonl", "model/head.safetensors", "model/weights.safetensors" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);

        // eval on the same split gives the same numbers; predict names the class.
        var evalJson = Path.Combine(run, "eval", "metrics.json");
        var report = EvalRun.Run(run, "classes:" + media.ClassesDir, "test", evalJson, CPU, log: TextWriter.Null);
        Assert.Equal(result.Report.Top1, report.Top1, 6);
        using var doc = JsonDocument.Parse(File.ReadAllText(evalJson));
        Assert.Equal(6, doc.RootElement.GetProperty("n").GetInt32());
        Assert.Equal(2, doc.RootElement.GetProperty("per_class").GetProperty("red").GetProperty("n").GetInt32());
        Assert.True(File.Exists(Path.Combine(run, "eval", "predictions.tsv")));

        var (loadedCfg, model) = TransferModelDirectory.Load(run, CPU);
        using (model)
        {
            var files = Directory.GetFiles(Path.Combine(media.ClassesDir, "test", "red")).Order().ToList();
            var predictions = Prediction.Run(model, loadedCfg, files, CPU, k: 3);
            Assert.Equal(2, predictions.Count);
            Assert.All(predictions, p => Assert.Equal(3, p.Top.Count));
            Assert.All(predictions, p => Assert.True(p.Top[0].Probability >= p.Top[1].Probability));
            Assert.Equal(1.0, predictions[0].Top.Sum(s => s.Probability), 3);   // all 3 classes listed: softmax sums to 1
            Assert.Contains(predictions, p => p.Top[0].Name == "red");
        }
    }

    [Fact]
    public void A_bare_folder_per_class_without_a_test_split_tests_on_held_out_videos_only()
    {
        // classes/train is a single-level folder per class (3 videos each), given as a bare path.
        var run = TestSetup.TempDir("ft-heldout");
        var data = Path.Combine(media.ClassesDir, "train");
        var cfg = Config("downstream.task=visual", "downstream.visual.epochs=1", "downstream.visual.train_samples_per_video=1",
                         "downstream.visual.batch_size=3", "downstream.visual.test_clips=1", "downstream.visual.test_crops=1");
        var log = new StringWriter();
        var result = FinetuneRun.Run(cfg, new FinetuneOptions { RunDir = run, Data = data, Device = CPU, Progress = ProgressMode.Off, Log = log }).Runs.Single();
        Assert.Contains("read as a folder per class (3 classes: blue, green, red)", log.ToString());
        Assert.Contains("holding out 20 % of each class, 3 of 9 videos", log.ToString());
        Assert.Equal(2, result.Steps);                                                      // 6 training videos, batches of 3
        Assert.Equal(3, result.Report!.Count);
        Assert.All(result.Report.PerClass, c => Assert.Equal(1, c.Count));

        // split.csv records the roles; its test split re-evaluates exactly the held-out videos.
        var trained = SourceLoader.Open("csv:" + Path.Combine(run, FinetuneSplit.RecordFile), "train").Items.Select(i => i.Path).ToHashSet();
        var report = EvalRun.Run(run, "csv:" + Path.Combine(run, FinetuneSplit.RecordFile), "test", Path.Combine(run, "eval", "metrics.json"), CPU, log: TextWriter.Null);
        Assert.Equal(6, trained.Count);
        Assert.Equal(3, report.Count);
        Assert.Equal(result.Report.Top1, report.Top1, 6);
    }

    [Fact]
    public void Audio_finetuning_from_random_init_separates_the_sounds()
    {
        var run = TestSetup.TempDir("ft-audio");
        var cfg = Config("downstream.task=audio", "downstream.audio.protocol=finetune", "downstream.audio.epochs=5",
                         "downstream.audio.head_lr=0.01", "downstream.audio.backbone_lr=0.001", "downstream.audio.batch_size=6",
                         "downstream.audio.train_samples_per_video=2", "downstream.audio.test_clips=3", "downstream.audio.window_seconds=0.5");
        var summary = Finetune(cfg, "classes:" + media.ClassesDir, run);
        var report = summary.Runs.Single().Report!;
        Assert.True(report.Top1 >= 0.83, $"audio top-1 {report.Top1}");
    }

    [Fact]
    public void Audiovisual_finetuning_from_random_init_separates_the_classes()
    {
        var run = TestSetup.TempDir("ft-av");
        var cfg = Config("downstream.task=audiovisual", "downstream.audiovisual.epochs=4", "downstream.audiovisual.batch_size=3",
                         "downstream.audiovisual.head_lr=0.01", "downstream.audiovisual.backbone_lr=0.001", "downstream.audiovisual.test_crops=1");
        var report = Finetune(cfg, "classes:" + media.ClassesDir, run).Runs.Single().Report!;
        Assert.True(report.Top1 >= 0.83, $"audiovisual top-1 {report.Top1}");
        var rows = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
        Assert.Contains(rows, r => r.Values.ContainsKey("loss_clip") && r.Values.ContainsKey("loss_sequence"));
    }

    [Fact]
    public void Multilabel_finetuning_learns_colour_and_sound_labels_with_high_map()
    {
        var run = TestSetup.TempDir("ft-multi");
        var cfg = Config("downstream.task=multilabel", "downstream.multilabel.epochs=6", "downstream.multilabel.batch_size=4",
                         "downstream.multilabel.head_lr=0.02", "downstream.multilabel.backbone_lr=0.001", "downstream.multilabel.test_crops=1");
        var report = Finetune(cfg, "csv:" + media.MultiLabelCsv, run).Runs.Single().Report!;
        Assert.Equal(4, report.Count);
        Assert.NotNull(report.MeanAveragePrecision);
        // Each class has 2 positives among the 4 test videos: chance AP is about 0.5; learned from picture and sound, 1.
        Assert.True(report.MeanAveragePrecision >= 0.9, $"mAP {report.MeanAveragePrecision}");
        Assert.Equal(["blue", "noise", "red", "tone"], report.PerClass.Select(c => c.Name));
        Assert.All(report.PerClass, c => Assert.Equal(2, c.Count));
    }

    [Fact]
    public void Linear_evaluation_cross_validates_over_folds_and_leaves_the_backbone_bit_identical()
    {
        // A "pretrained" model: random weights saved as a model directory, as `pretrain` or `convert` would leave one.
        var initDir = TestSetup.TempDir("init");
        var initCfg = Config();
        manual_seed(7);
        using (var backbone = new AvBertModel(initCfg.Model, initCfg.Data)) ModelDirectory.Save(initDir, initCfg, backbone);

        var run = TestSetup.TempDir("linear-cv");
        var cfg = FinetuneRun.PrepareRunDirectory(run, () => Config("downstream.task=audio", "downstream.audio.epochs=2", "downstream.audio.batch_size=8",
            "downstream.audio.head_lr=0.03", "downstream.audio.train_samples_per_video=1", "downstream.audio.test_clips=2",
            "downstream.audio.window_seconds=0.5"), initDir, resume: false);
        var summary = Finetune(cfg, "csv:" + media.FoldsCsv, run, init: initDir);

        Assert.Equal(["fold-1", "fold-2"], summary.Runs.Select(r => r.Name));
        Assert.NotNull(summary.FoldMean);
        Assert.Equal(summary.Runs.Average(r => r.Report!.Top1), summary.FoldMean!["top1"], 6);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "crossval.json"))))
        {
            Assert.Equal(2, doc.RootElement.GetProperty("folds").EnumerateObject().Count());
            Assert.True(doc.RootElement.GetProperty("mean").TryGetProperty("top1", out _));
        }
        var original = Safetensors.LoadStateDict(Path.Combine(initDir, ModelDirectory.WeightsFile));
        foreach (var fold in summary.Runs)
        {
            var trained = Safetensors.LoadStateDict(Path.Combine(fold.ModelDir, ModelDirectory.WeightsFile));
            Assert.Equal(original.Keys.Order(), trained.Keys.Order());
            foreach (var (k, t) in original)
                Assert.True(t.shape.SequenceEqual(trained[k].shape) && t.eq(trained[k]).all().item<bool>(), $"{fold.Name}: backbone '{k}' changed");
        }
        Assert.Equal([9, 6], summary.Runs.Select(r => r.Report!.Count));   // every file is tested in exactly one fold
        // A cross-validation run has one model per fold: --model RUN says so.
        Assert.Contains("fold-1", Assert.Throws<AvBert.Runtime.UserError>(() => TransferModelDirectory.Resolve(run)).Message);
    }

    [Fact]
    public void Folds_all_on_a_ucf101_like_source_trains_each_official_split_and_reports_mean_and_std()
    {
        // UCF101's layout over the fixture's red and blue videos (5 each); split k tests on videos i % 3 == k − 1.
        var root = TestSetup.TempDir("ucf-like");
        var data = CrossValidationTests.Ucf101Like(root, (cls, i) => Path.Combine(media.ClassesDir, i < 3 ? "train" : "test",
            cls == "Drumming" ? "red" : "blue", $"{(cls == "Drumming" ? "red" : "blue")}{(i < 3 ? i : i - 3)}.mp4"));
        var run = TestSetup.TempDir("ucf-folds");
        var cfg = FinetuneRun.PrepareRunDirectory(run, () => Config("downstream.task=visual", "downstream.visual.epochs=1",
            "downstream.visual.train_samples_per_video=1", "downstream.visual.batch_size=4", "downstream.visual.test_clips=1",
            "downstream.visual.test_crops=1"), null, resume: false);
        var summary = FinetuneRun.Run(cfg, new FinetuneOptions
        {
            RunDir = run, Data = data, Folds = "all", Device = CPU, Progress = ProgressMode.Off, Log = TextWriter.Null,
        });
        Assert.Equal(["fold-1", "fold-2", "fold-3"], summary.Runs.Select(r => r.Name));
        Assert.Equal([4, 4, 2], summary.Runs.Select(r => r.Report!.Count));      // testlist01..03: 2, 2 and 1 video per class
        var top1 = summary.Runs.Select(r => r.Report!.Top1).ToList();
        double mean = top1.Average(), std = Math.Sqrt(top1.Sum(v => (v - mean) * (v - mean)) / 2);
        Assert.Equal(mean, summary.FoldMean!["top1"], 6);
        Assert.Equal(std, summary.FoldStd!["top1"], 6);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "crossval.json")));
        Assert.Equal(3, doc.RootElement.GetProperty("folds").EnumerateObject().Count());
        Assert.Equal(std, doc.RootElement.GetProperty("std").GetProperty("top1").GetDouble(), 5);
        foreach (var k in new[] { 1, 2, 3 })
            Assert.True(File.Exists(Path.Combine(run, $"fold-{k}", "metrics.json")), $"fold-{k}/metrics.json");
    }

    [Fact]
    public void Extract_writes_pooled_and_transformer_features_per_video()
    {
        var modelDir = TestSetup.TempDir("extract-model");
        var cfg = Config();
        manual_seed(3);
        using var model = new AvBertModel(cfg.Model, cfg.Data);
        ModelDirectory.Save(modelDir, cfg, model);
        var source = SourceLoader.Open("classes:" + media.ClassesDir, "test");
        var outDir = TestSetup.TempDir("features");
        var files = FeatureExport.Run(model, cfg, source, outDir, CPU);
        Assert.Equal(6, files.Count);
        var f = Safetensors.LoadStateDict(Path.Combine(outDir, "red", "red0.safetensors"));
        int t = cfg.Data.SequenceLength, dModel = cfg.Model.Transformer.HiddenSize;
        Assert.Equal(new long[] { t, model.VisualFeatureDim }, f["visual_pooled"].shape);
        Assert.Equal(new long[] { t, model.AudioFeatureDim }, f["audio_pooled"].shape);
        Assert.Equal(new long[] { t + 1, dModel }, f["visual_transformer"].shape);
        Assert.Equal(new long[] { 2 * (t + 1), dModel }, f["multimodal_transformer"].shape);
        Assert.Equal(new[] { 0.0, 1.0 }, f["clip_positions"].data<double>().ToArray());
        var index = File.ReadAllLines(Path.Combine(outDir, FeatureExport.IndexFile));
        Assert.Equal(7, index.Length);
        Assert.Contains(index, l => l.EndsWith("\tred/red0.safetensors\tred\t\t", StringComparison.Ordinal)); // no split or fold: opened with one split
    }
}
