using System.Text.Json;
using AvBert.Config;
using AvBert.Runs;
using AvBert.Synthetic;
using AvBert.Training;

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
