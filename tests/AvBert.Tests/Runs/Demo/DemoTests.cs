using System.Text.Json;
using AvBert.Config;
using AvBert.Runs;
using AvBert.Synthetic;
using AvBert.Runtime;
using AvBert.Training;
using AvBert.Data.Sources;

namespace AvBert.Tests.Runs;

public class DemoTests
{
    /// <summary>The whole demo at a drastically reduced size: pretraining, both evaluations, summary, plots.</summary>
    [Fact]
    public void Demo_end_to_end_writes_summary_with_scores_in_0_1_and_plots()
    {
        var dir = TestSetup.TempDir("demo");
        try
        {
            var config = ConfigLoader.Load("small", overrides: DemoOptions.PretrainDefaults.Concat(
            [
                "data.num_frames=2", "data.sequence_length=2", "data.test_crop_size=16", "data.train_crop_size=16", "data.train_jitter_scales=[16,16]",
                "data.audio_frequency=16", "data.audio_time=16",
                "model.visual.width_per_group=4", "model.audio.width_per_group=4",
                "model.transformer.hidden_size=32", "model.transformer.num_heads=2", "model.transformer.intermediate_size=64",
                "model.transformer.num_layers=1", "model.transformer.rank=8",
                "pretrain.steps=3", "pretrain.batch_size=4", "pretrain.warmup_steps=1", "pretrain.log_every=1", "pretrain.seed=3",
            ]));
            var options = new DemoOptions
            {
                OutDir = dir, Data = new ToyAvOptions { NumClasses = 4, Seed = 3 },
                ProbeTrainVideos = 16, ProbeTestVideos = 12, RetrievalVideos = 6, PretrainVideosPerEpoch = 8, FeatureBatchSize = 8,
                Probe = new() { Steps = 20 }, Progress = ProgressMode.Off, Log = TextWriter.Null,
            };
            var summary = DemoRun.Run(config, options);

            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")));
            var root = json.RootElement;
            Assert.True(root.GetProperty("seconds").GetDouble() > 0);
            Assert.Equal(0.25, root.GetProperty("chance").GetDouble(), 6);
            foreach (var model in new[] { "random_init", "pretrained" })
            {
                var scores = root.GetProperty(model);
                Assert.Equal(["visual", "audio", "audiovisual", "retrieval_r1"], scores.EnumerateObject().Select(p => p.Name));
                Assert.All(scores.EnumerateObject(), p => Assert.InRange(p.Value.GetDouble(), 0.0, 1.0));
            }
            var cnn = root.GetProperty("cnn_features");
            foreach (var model in new[] { "random_init", "pretrained", "random_init_bn_recalibrated" })
            {
                var scores = cnn.GetProperty(model);
                Assert.Equal(["visual", "audio", "audiovisual"], scores.EnumerateObject().Select(p => p.Name));
                Assert.All(scores.EnumerateObject(), p => Assert.InRange(p.Value.GetDouble(), 0.0, 1.0));
            }
            Assert.Equal(summary.Cnn.Pretrained.Visual, cnn.GetProperty("pretrained").GetProperty("visual").GetDouble());
            // The random-init control and the pretraining run start from the same weights: only pretraining differs.
            Assert.NotNull(summary.RandomInitRecalibrated);
            Assert.Equal(3, root.GetProperty("pretrain_steps").GetInt64());
            Assert.Equal(summary.Pretrained.AudioVisual, root.GetProperty("pretrained").GetProperty("audiovisual").GetDouble());
            foreach (var png in new[] { "probes.png", "loss.png" })
                Assert.True(new FileInfo(Path.Combine(dir, png)).Length > 1000, png);
            Assert.True(File.Exists(Path.Combine(dir, "pretrain", "model", "weights.safetensors")));
        }
        finally { Directory.Delete(dir, true); }
    }
}

/// <summary>`avbert demo --data SPEC` on a tiny labelled folder of FFmpeg-made videos (<see cref="LabeledMediaFixture"/>:
/// 3 classes, train/ 9 and test/ 6 videos): pretraining reads the training videos only, the probes are fitted on train/ and
/// scored on test/ for the random-init model, its BatchNorm control and the pretrained model.</summary>
[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public sealed class DemoOnMediaTests(LabeledMediaFixture media) : IClassFixture<LabeledMediaFixture>
{
    static AvBertConfig Config() => ConfigLoader.Load("small", overrides: [.. DemoOptions.PretrainDefaults, .. LabeledMediaFixture.TinySets,
        "pretrain.steps=2", "pretrain.batch_size=4", "pretrain.warmup_steps=1", "pretrain.log_every=1", "pretrain.seed=4", "pretrain.cpp_extra_pairs=3"]);

    static DemoOptions Options(string dir, string spec, TextWriter log) => new()
    {
        OutDir = dir, Source = spec, RetrievalVideos = 5, FeatureBatchSize = 4, Workers = 1,
        Probe = new() { Steps = 60 }, Progress = ProgressMode.Off, Log = log,
    };

    [Fact]
    public void Demo_on_a_classes_folder_pretrains_on_its_train_split_and_probes_train_against_test_for_every_model()
    {
        var dir = TestSetup.TempDir("demo-media");
        try
        {
            var spec = "classes:" + media.ClassesDir;
            var log = new StringWriter();
            var summary = DemoRun.Run(Config(), Options(dir, spec, log));

            // Pretraining saw the 9 training videos (unlabelled), not the 6 test videos, read from a training cache of the
            // folder that every video was decoded into once.
            Assert.Contains("pretrain: 9 videos", log.ToString());
            var cache = System.Text.RegularExpressions.Regex.Match(log.ToString(), @"read from prepared:(\S+)\)").Groups[1].Value;
            Assert.Equal(15, AvBert.Data.Sources.SourceLoader.Open("prepared:" + cache, "all").Items.Count);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")));
            var root = json.RootElement;
            Assert.Equal(spec, root.GetProperty("data").GetString());
            Assert.Contains("train/test split (9 train, 6 test videos)", root.GetProperty("protocol").GetString());
            Assert.Equal(1.0 / 3, root.GetProperty("chance").GetDouble(), 6);
            Assert.Equal(3, root.GetProperty("classes").GetInt32());
            Assert.Equal(9, root.GetProperty("probe_train_videos").GetInt32());
            Assert.Equal(6, root.GetProperty("probe_test_videos").GetInt32());
            Assert.Equal(5, root.GetProperty("retrieval_videos").GetInt32());
            Assert.Equal(0.2, root.GetProperty("retrieval_chance").GetDouble(), 6);
            Assert.Equal(2, root.GetProperty("pretrain_steps").GetInt64());
            foreach (var model in new[] { "random_init", "random_init_bn_recalibrated", "pretrained" })
            {
                var scores = root.GetProperty(model);
                Assert.Equal(["visual", "audio", "audiovisual", "retrieval_r1"], scores.EnumerateObject().Select(p => p.Name));
                Assert.All(scores.EnumerateObject(), p => Assert.InRange(p.Value.GetDouble(), 0.0, 1.0));
                var cnn = root.GetProperty("cnn_features").GetProperty(model);
                Assert.Equal(["visual", "audio", "audiovisual"], cnn.EnumerateObject().Select(p => p.Name));
                // Every video of a class shows one solid colour: a linear probe on the visual CNN's features tells the classes apart,
                // whatever the weights — the probes really are fitted on train/ and scored on test/ with the right labels.
                Assert.Equal(1.0, cnn.GetProperty("visual").GetDouble());
            }
            // R@1 through the correct-pair head over 5 test videos: a multiple of 1/5.
            Assert.All(new[] { summary.RandomInit, summary.Pretrained }, s => Assert.Equal(0, s.RetrievalR1 * 5 - Math.Round(s.RetrievalR1 * 5), 6));
            foreach (var png in new[] { "probes.png", "loss.png" })
                Assert.True(new FileInfo(Path.Combine(dir, png)).Length > 1000, png);
            Assert.True(File.Exists(Path.Combine(dir, "pretrain", "model", "weights.safetensors")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_source_without_test_split_or_labels_is_a_one_line_error_before_anything_is_trained()
    {
        var dir = TestSetup.TempDir("demo-media-error");
        try
        {
            string Error(string spec) => Assert.ThrowsAny<UserError>(() => DemoRun.Run(Config(), Options(dir, spec, TextWriter.Null))).Message;

            // A folder of class folders without train/ and test/: every video is in both splits, none held out.
            var noTest = Error("classes:" + Path.Combine(media.ClassesDir, "train"));
            Assert.Contains("no test split", noTest);
            Assert.Contains("classes:DIR with train/ and test/", noTest);
            Assert.DoesNotContain('\n', noTest);
            Assert.False(Directory.Exists(Path.Combine(dir, "pretrain")));
            Assert.DoesNotContain('\n', Error("nosuchformat:" + media.Root));
        }
        finally { Directory.Delete(dir, true); }
    }
}
