using System.Text.Json;
using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream.Probing;
using AvBert.Model;
using AvBert.Runs;
using AvBert.Runtime;
using AvBert.Synthetic;
using AvBert.Training;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Tests.Runs;

/// <summary>`avbert probe` end to end on a tiny `extract` output of FFmpeg-made videos (3 classes, 9 train / 6 test), and
/// with a tiny pretrain run doing the extraction itself and scoring retrieval through its correct-pair head.</summary>
[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public sealed class ProbeRunTests(LabeledMediaFixture media) : IClassFixture<LabeledMediaFixture>
{
    static AvBertConfig Config(params string[] sets) => ConfigLoader.Load("small", null, [.. LabeledMediaFixture.TinySets, .. sets]);

    static readonly ClassifierOptions Quick = new() { Ks = [1, 3], Linear = new LinearProbeOptions { Steps = 60 } };

    /// <summary>`extract --data classes:DIR` (all splits) with a random-init tiny model into a new folder.</summary>
    string Extract(string? spec = null, IReadOnlyList<string>? files = null)
    {
        var cfg = Config();
        manual_seed(5);
        using var model = new AvBertModel(cfg.Model, cfg.Data);
        var source = FeatureExport.Videos(files is null ? spec ?? "classes:" + media.ClassesDir : null, "all", files ?? [], cfg.Data, new SkippedLog(null, TextWriter.Null));
        var dir = TestSetup.TempDir("probe-features");
        FeatureExport.Run(model, cfg, source, dir, CPU);
        return dir;
    }

    [Fact]
    public void Probe_on_extract_output_scores_every_family_on_the_sources_split_and_writes_probe_json_and_png()
    {
        var dir = Extract();
        var index = File.ReadAllLines(Path.Combine(dir, FeatureExport.IndexFile));
        Assert.Equal("source\tfeatures\tlabels\tsplit\tfold", index[0]);
        Assert.Equal(9, index.Count(l => l.Contains("\ttrain\t")));
        Assert.Equal(6, index.Count(l => l.Contains("\ttest\t")));

        var s = ProbeRun.Run(new ProbeOptions { Features = dir, Classifiers = Quick, Log = TextWriter.Null });
        Assert.Equal(15, s.Videos);
        Assert.Equal(["blue", "green", "red"], s.Classes);
        Assert.Equal(["test"], s.FoldNames);
        Assert.Contains("train/test split (9 train, 6 test", s.Protocol);
        Assert.Equal(["visual_cnn", "audio_cnn", "visual_cnn+audio_cnn", "visual_transformer", "audio_transformer", "multimodal_transformer",
                      "visual_transformer+audio_transformer", "visual_cnn+audio_cnn+multimodal_transformer"], s.Families.Select(f => f.Name));
        foreach (var f in s.Families)
        {
            Assert.InRange(f.Linear!.Mean, 0, 1);
            Assert.Equal(0, f.Linear.Std);                                                  // one division
            Assert.Equal(["1", "3"], f.Knn.Keys);
            Assert.Equal(6, f.ClassRetrieval!.Queries);
        }
        // Every video of a class shows the same solid colour: the visual CNN's features decide the class exactly.
        var visual = s.Families.Single(f => f.Name == "visual_cnn");
        Assert.Equal(1.0, visual.Knn["1"].Mean);
        Assert.Equal(1.0, visual.ClassRetrieval!.R1);
        Assert.Null(s.CppRetrieval);                                                        // no model: no correct-pair head

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, ProbeSummary.JsonFile)));
        var root = json.RootElement;
        Assert.Equal(dir, root.GetProperty("source").GetString());
        Assert.Equal(8, root.GetProperty("families").GetArrayLength());
        var first = root.GetProperty("families")[0];
        Assert.Equal(visual.Linear!.Mean, first.GetProperty("linear").GetProperty("mean").GetDouble());
        Assert.Equal(1.0, first.GetProperty("knn").GetProperty("1").GetProperty("folds")[0].GetDouble());
        Assert.Equal(5, root.GetProperty("options").GetProperty("folds").GetInt32());
        Assert.True(new FileInfo(Path.Combine(dir, ProbeSummary.PlotFile)).Length > 1000);

        // --kfold: a stratified 3-fold over all 15 videos instead, retrieval over all of them; another --out.
        var outDir = TestSetup.TempDir("probe-out");
        var k = ProbeRun.Run(new ProbeOptions { Features = dir, OutDir = outDir, KFold = true, Folds = 3, Classifiers = Quick, Log = TextWriter.Null });
        Assert.Equal(["fold-1", "fold-2", "fold-3"], k.FoldNames);
        Assert.All(k.Families, f => Assert.Equal(3, f.Linear!.Folds.Count));
        Assert.Equal(15, k.RetrievalVideos);
        Assert.True(File.Exists(Path.Combine(outDir, ProbeSummary.JsonFile)));
        Assert.Equal(1.0, k.Families.Single(f => f.Name == "visual_cnn").Knn["1"].Mean);
    }

    [Fact]
    public void What_a_user_can_get_wrong_is_one_user_error()
    {
        string Error(ProbeOptions o) => Assert.ThrowsAny<UserError>(() => ProbeRun.Run(o with { Log = TextWriter.Null })).Message;

        Assert.Contains("folder not found", Error(new ProbeOptions { Features = "/nonexistent/features" }));
        Assert.Contains("--model", Error(new ProbeOptions { Data = "toy-av:8" }));

        var labelled = Extract();
        Assert.Contains("larger than the 9 training videos", Error(new ProbeOptions { Features = labelled, Classifiers = Quick with { Ks = [20] } }));

        // One class only: the same features, every label rewritten to one class.
        var single = TestSetup.TempDir("probe-one-class");
        foreach (var file in Directory.GetFiles(labelled, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(single, Path.GetRelativePath(labelled, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        var rows = File.ReadAllLines(Path.Combine(single, FeatureExport.IndexFile));
        File.WriteAllLines(Path.Combine(single, FeatureExport.IndexFile),
            rows.Take(1).Concat(rows.Skip(1).Select(r => { var c = r.Split('\t'); c[2] = "red"; return string.Join('\t', c); })));
        Assert.Contains("at least two classes", Error(new ProbeOptions { Features = single, Classifiers = Quick }));

        // Features of plain files: no labels.
        var files = Directory.GetFiles(Path.Combine(media.ClassesDir, "test"), "*.mp4", SearchOption.AllDirectories).Order().ToList();
        Assert.Contains("have no labels", Error(new ProbeOptions { Features = Extract(files: files), Classifiers = Quick }));
    }

    [Fact]
    public void Probe_with_a_pretrain_run_extracts_the_source_itself_and_retrieves_audio_and_video_through_the_correct_pair_head()
    {
        var run = TestSetup.TempDir("probe-pretrain");
        var cfg = PretrainRun.PrepareRunDirectory(run, () => Config("pretrain.steps=2", "pretrain.batch_size=4", "pretrain.warmup_steps=1",
                                                                   "pretrain.log_every=1", "pretrain.seed=2"), resume: false);
        var toy = new ToyAv(new ToyAvOptions { NumClasses = 3, Seed = 2 }, cfg.Data);
        PretrainRun.Run(cfg, new ToyAvClipDataset(toy, ToyAvSplit.Train, 8), new PretrainRunOptions
        {
            RunDir = run, Device = CPU, Progress = ProgressMode.Off, Log = TextWriter.Null,
        });
        var outDir = TestSetup.TempDir("probe-model-out");
        var s = ProbeRun.Run(new ProbeOptions
        {
            Model = run, Data = "classes:" + media.ClassesDir, OutDir = outDir, Classifiers = Quick, Log = TextWriter.Null,
        });
        Assert.Equal("classes:" + media.ClassesDir, s.Source);
        Assert.Equal(["test"], s.FoldNames);                                                // classes:DIR's own train/ and test/
        var cpp = Assert.IsType<CppRetrievalResult>(s.CppRetrieval);
        Assert.Equal(6, cpp.Videos);
        foreach (var r in new[] { cpp.AudioToVideo, cpp.VideoToAudio })
        {
            Assert.Equal(6, r.Queries);
            Assert.InRange(r.R1, 0, 1);
            Assert.True(r.R1 <= r.R5 && r.R5 <= r.R10);
            Assert.Equal(1.0, r.R10);                                                       // 6 candidates: always within the first 10
            Assert.InRange(r.MedianRank, 1, 6);
        }
        Assert.Equal(1.0, s.Families.Single(f => f.Name == "visual_cnn").Knn["1"].Mean);
        Assert.True(File.Exists(Path.Combine(outDir, ProbeSummary.PlotFile)));
    }
}
