using AvBert.Config;
using AvBert.Runs;
using AvBert.Synthetic;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Training;

namespace AvBert.Tests.Runs;

public class RunFolderTests
{
    static AvBertConfig Config(params string[] sets) => ConfigLoader.Load("small", null, ["pretrain.steps=10", .. sets]);

    /// <summary>A pretrain run folder as a run leaves it: config.yaml, run.json and one checkpoint folder.</summary>
    static string RunWithCheckpoint(string data = "toy-av:40")
    {
        var run = Path.Combine(TestSetup.TempDir("runfolder"), "run");
        PretrainRun.PrepareRunDirectory(run, () => Config(), resume: false, data: data);
        var step = Directory.CreateDirectory(Path.Combine(run, "checkpoints", "step-00000005")).FullName;
        File.WriteAllText(Path.Combine(step, CheckpointStore.StateFile), "{}");
        return run;
    }

    static Dictionary<string, byte[]> Snapshot(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);

    static void AssertUnchanged(Dictionary<string, byte[]> before, string dir)
    {
        var after = Snapshot(dir);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (f, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[f]), f);
    }

    [Theory]
    [InlineData("model.transformer.num_layers=3", "model.transformer.num_layers")]
    [InlineData("pretrain.batch_size=4", "pretrain.batch_size")]
    [InlineData("pretrain.seed=9", "pretrain.seed")]
    public void A_refused_resume_leaves_the_run_folder_byte_identical(string set, string key)
    {
        var run = RunWithCheckpoint();
        var before = Snapshot(run);
        var e = Assert.ThrowsAny<UserError>(() => PretrainRun.PrepareRunDirectory(run, () => throw new InvalidOperationException(), resume: true, [set], "toy-av:40"));
        Assert.Contains(key, e.Message);
        Assert.Contains("--resume", e.Message);
        AssertUnchanged(before, run);
    }

    [Fact]
    public void Resuming_on_another_data_source_is_refused_unless_allowed()
    {
        var media = TestSetup.TempDir("runfolder-media");
        var run = RunWithCheckpoint(data: media);
        var before = Snapshot(run);
        var e = Assert.ThrowsAny<UserError>(() => PretrainRun.PrepareRunDirectory(run, () => Config(), resume: true, [], "toy-av:40"));
        Assert.Contains(media, e.Message);
        Assert.Contains("--allow-data-change", e.Message);
        AssertUnchanged(before, run);

        // The same folder named by a relative path is the same source.
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, media);
        PretrainRun.PrepareRunDirectory(run, () => Config(), resume: true, [], relative);
        PretrainRun.PrepareRunDirectory(run, () => Config(), resume: true, [], "toy-av:40", allowDataChange: true);
        Assert.Contains("toy-av:40", File.ReadAllText(Path.Combine(run, RunFolder.RecordFile)));
    }

    [Fact]
    public void Resume_without_a_checkpoint_is_an_error_not_a_fresh_start()
    {
        var run = Path.Combine(TestSetup.TempDir("runfolder-nockpt"), "run");
        PretrainRun.PrepareRunDirectory(run, () => Config(), resume: false, data: "toy-av:40");
        var before = Snapshot(run);
        var e = Assert.ThrowsAny<UserError>(() => PretrainRun.PrepareRunDirectory(run, () => Config(), resume: true, [], "toy-av:40"));
        Assert.Contains("no checkpoint", e.Message);
        AssertUnchanged(before, run);
    }

    [Fact]
    public void Resume_may_extend_the_steps_and_a_new_run_into_a_held_folder_is_refused()
    {
        var run = RunWithCheckpoint();
        var cfg = PretrainRun.PrepareRunDirectory(run, () => Config(), resume: true, ["pretrain.steps=20"], "toy-av:40");
        Assert.Equal(20, cfg.Pretrain.Steps);
        Assert.Equal(20, ConfigLoader.LoadFile(Path.Combine(run, RunFolder.ConfigFile)).Pretrain.Steps);
        Assert.Contains("--resume", Assert.ThrowsAny<UserError>(() => PretrainRun.PrepareRunDirectory(run, () => Config(), resume: false, data: "toy-av:40")).Message);
    }
}
