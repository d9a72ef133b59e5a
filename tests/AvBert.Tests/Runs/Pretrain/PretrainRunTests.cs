using AvBert.Config;
using AvBert.Runs;
using AvBert.Runtime;
using AvBert.Synthetic;
using AvBert.Tests.Pretraining;
using AvBert.Data;
using AvBert.Pretraining;
using AvBert.Tests.Training;
using AvBert.Training;
using AvBert.Data.Sources;

namespace AvBert.Tests.Runs;

[Collection(TorchRngCollection.Name)]
public class PretrainRunTests
{
    [Fact]
    public void Short_pretrain_on_video_files_writes_a_resumable_run_and_a_model()
    {
        var media = TestSetup.TempDir("pretrain-media");
        for (int i = 0; i < 4; i++)
            TestMedia.Make(media, $"v{i}", new TestMediaSpec { Seconds = 2.5, Width = 64, Height = 48, ToneHz = 300 + 150 * i });
        File.WriteAllText(Path.Combine(media, "broken.mp4"), "not a video");
        var run = Path.Combine(TestSetup.TempDir("pretrain-run"), "run");
        string[] sets = ["pretrain.batch_size=2", "pretrain.steps=3", "pretrain.warmup_steps=1", "pretrain.checkpoint_every=2", "pretrain.log_every=1"];

        PretrainSummary Go(bool resume, params string[] extra)
        {
            var cfg = PretrainRun.PrepareRunDirectory(run, () => PretrainerTests.Tiny([.. sets, .. extra]), resume, extra);
            var skipped = new SkippedLog(run, TextWriter.Null, resume);
            var source = SourceLoader.Open(media, "train", skipped);
            return PretrainRun.Run(cfg, PretrainRun.Dataset(source, cfg.Data),
                new PretrainRunOptions { RunDir = run, Resume = resume, Workers = 2, Progress = ProgressMode.Off, Log = TextWriter.Null }, skipped);
        }

        var first = Go(resume: false);
        Assert.Equal(3, first.Steps);
        Assert.True(double.IsFinite(first.LastValues["loss"]));
        Assert.Equal(1, first.SkippedFiles);
        foreach (var f in new[] { "config.yaml", "metrics.jsonl", "metrics.csv", "loss.png", "skipped.tsv", "model/config.yaml", "model/weights.safetensors",
                                  "checkpoints/step-00000002/state.json", "checkpoints/step-00000003/model.safetensors" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(run, "tb")));
        Assert.Contains("broken.mp4", File.ReadAllText(Path.Combine(run, "skipped.tsv")));
        var reloaded = ConfigLoader.LoadFile(Path.Combine(run, "model", "config.yaml"));
        Assert.Equal(32, reloaded.Model.Transformer.HiddenSize);

        // A new run into the same folder is refused; --resume continues (here extended to 4 steps).
        Assert.Throws<AvBert.Runtime.UserError>(() => PretrainRun.PrepareRunDirectory(run, () => PretrainerTests.Tiny(sets), resume: false));
        var second = Go(resume: true, "pretrain.steps=4");
        Assert.Equal(4, second.Steps);
        var rows = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
        Assert.Equal([1L, 2, 3, 4], rows.Select(r => r.Step));
        Assert.All(rows, r => Assert.Contains("loss_cpp", r.Values.Keys));
    }
}
