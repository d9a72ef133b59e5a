using AvBert.Runtime;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Training;

[Collection(TorchRngCollection.Name)]
public class CheckpointStoreTests
{
    static TrainingOptimizer Opt(TinyNet net) =>
        TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(net.named_parameters(), 1e-2, 1e-4), new AdamOptions());

    static void TakeSteps(TinyNet net, TrainingOptimizer opt, int n)
    {
        foreach (var b in TinyNet.Data(0).Take(n))
        {
            opt.ZeroGrad();
            TinyNet.Step(net, b).Loss.backward();
            opt.Step();
        }
    }

    [Fact]
    public void Checkpoint_round_trips_weights_optimiser_and_state()
    {
        var dir = TestSetup.TempDir("ckpt");
        manual_seed(1);
        var net = new TinyNet();
        var opt = Opt(net);
        TakeSteps(net, opt, 3);
        var store = new CheckpointStore(dir);
        store.Save(net, opt, new TrainingState { Step = 3, ConsumedBatches = 6, Seed = 7, Extra = { ["epoch"] = "1" } });

        manual_seed(2);
        var net2 = new TinyNet();
        var opt2 = Opt(net2);
        var state = store.LoadLatest(net2, opt2)!;
        Assert.Equal(3, state.Step);
        Assert.Equal(6, state.ConsumedBatches);
        Assert.Equal("1", state.Extra["epoch"]);
        foreach (var (a, b) in net.parameters().Zip(net2.parameters())) Assert.True(a.allclose(b, 0, 0));
        // Same optimiser state ⇒ the next update is identical.
        manual_seed(5);
        TakeSteps(net, opt, 1);
        manual_seed(5); // same dropout masks
        TakeSteps(net2, opt2, 1);
        foreach (var (a, b) in net.parameters().Zip(net2.parameters())) Assert.True(a.allclose(b, 0, 0));
    }

    [Fact]
    public void A_killed_save_never_replaces_the_last_good_checkpoint()
    {
        var dir = TestSetup.TempDir("ckpt-kill");
        var net = new TinyNet();
        var opt = Opt(net);
        var store = new CheckpointStore(dir, keep: 2);
        store.Save(net, opt, new TrainingState { Step = 10 });
        // What a kill mid-save leaves: a temporary folder with partial files, never a step folder.
        var tmp = Directory.CreateDirectory(Path.Combine(dir, ".tmp-step-00000020-123-abc")).FullName;
        File.WriteAllBytes(Path.Combine(tmp, CheckpointStore.ModelFile), [1, 2, 3]);
        // And a step folder without state.json is not complete either (e.g. copied by hand, cut short).
        var partial = Directory.CreateDirectory(Path.Combine(dir, "step-00000030")).FullName;
        File.WriteAllBytes(Path.Combine(partial, CheckpointStore.ModelFile), [1, 2, 3]);
        File.Delete(Path.Combine(dir, "latest"));

        Assert.Equal(Path.Combine(dir, "step-00000010"), store.Latest());
        var state = store.LoadLatest(new TinyNet(), null);
        Assert.Equal(10, state!.Step);
        Assert.False(Directory.Exists(tmp)); // leftovers are cleaned on load
    }

    [Fact]
    public void Old_checkpoints_are_pruned_to_keep()
    {
        var dir = TestSetup.TempDir("ckpt-prune");
        var net = new TinyNet();
        var store = new CheckpointStore(dir, keep: 2);
        foreach (var s in new[] { 1, 2, 3, 4 }) store.Save(net, null, new TrainingState { Step = s });
        Assert.Equal(["step-00000003", "step-00000004"], Directory.GetDirectories(dir).Select(d => Path.GetFileName(d)!).Order().ToArray());
        Assert.Equal("step-00000004", File.ReadAllText(Path.Combine(dir, "latest")).Trim());
    }

    [Fact]
    public void Loading_into_a_different_model_is_a_user_error()
    {
        var dir = TestSetup.TempDir("ckpt-mismatch");
        var store = new CheckpointStore(dir);
        store.Save(new TinyNet(hidden: 8), null, new TrainingState { Step = 1 });
        var e = Assert.ThrowsAny<UserError>(() => store.LoadLatest(new TinyNet(hidden: 16), null));
        Assert.Contains("model.safetensors", e.Message);
    }

    /// <summary>Two checkpoints (steps 10 and 20) of a net whose weights differ between them; returns the store.</summary>
    static (CheckpointStore Store, StringWriter Warnings) TwoCheckpoints(string dir)
    {
        var warnings = new StringWriter();
        var store = new CheckpointStore(dir, keep: 2) { Warnings = warnings };
        var net = new TinyNet();
        var opt = Opt(net);
        store.Save(net, opt, new TrainingState { Step = 10 });
        TakeSteps(net, opt, 1);
        store.Save(net, opt, new TrainingState { Step = 20 });
        return (store, warnings);
    }

    public static TheoryData<string, string> Damages => new()
    {
        { "truncated model", "model.safetensors" },
        { "empty state", "state.json" },
        { "garbled state", "state.json" },
        { "missing manifest", "manifest.json" },
        { "flipped byte", "model.safetensors" },
    };

    static void Damage(string dir, string how)
    {
        var step = Path.Combine(dir, "step-00000020");
        switch (how)
        {
            case "truncated model":
                var m = Path.Combine(step, CheckpointStore.ModelFile);
                File.WriteAllBytes(m, File.ReadAllBytes(m)[..100]);
                break;
            case "empty state": File.WriteAllText(Path.Combine(step, CheckpointStore.StateFile), ""); break;
            case "garbled state": File.WriteAllText(Path.Combine(step, CheckpointStore.StateFile), "{\"step\": 20, \"see"); break;
            case "missing manifest": File.Delete(Path.Combine(step, CheckpointStore.ManifestFile)); break;
            case "flipped byte":
                var path = Path.Combine(step, CheckpointStore.ModelFile);
                var bytes = File.ReadAllBytes(path);
                bytes[^3] ^= 0x40;
                File.WriteAllBytes(path, bytes);
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_newest_checkpoint_falls_back_to_the_previous_one_with_a_warning(string how, string file)
    {
        var dir = TestSetup.TempDir("ckpt-damaged");
        var (store, warnings) = TwoCheckpoints(dir);
        Damage(dir, how);
        var net = new TinyNet();
        var state = store.LoadLatest(net, Opt(net));
        Assert.Equal(10, state!.Step);
        var line = Assert.Single(warnings.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("step-00000020", line);
        Assert.Contains(file, line);
        // The damaged one is kept aside for inspection, out of the way of later resumes.
        Assert.DoesNotContain(Path.Combine(dir, "step-00000020"), Directory.GetDirectories(dir));
        Assert.Contains(Directory.GetDirectories(dir), d => Path.GetFileName(d).StartsWith("damaged-step-00000020"));
    }

    [Fact]
    public void When_every_checkpoint_is_damaged_the_error_says_what_is_wrong_with_each()
    {
        var dir = TestSetup.TempDir("ckpt-all-damaged");
        var (store, _) = TwoCheckpoints(dir);
        Damage(dir, "truncated model");
        File.WriteAllText(Path.Combine(dir, "step-00000010", CheckpointStore.StateFile), "");
        var net = new TinyNet();
        var e = Assert.ThrowsAny<UserError>(() => store.LoadLatest(net, Opt(net)));
        Assert.Contains("no intact checkpoint", e.Message);
        Assert.Contains("step-00000020: model.safetensors", e.Message);
        Assert.Contains("step-00000010: state.json", e.Message);
    }

    [Theory]
    [InlineData("complete")]
    [InlineData("old-moved-aside")]
    [InlineData("new-moved-in")]
    public void Re_saving_a_step_keeps_an_intact_checkpoint_of_it_whenever_the_save_is_cut_short(string crashAt)
    {
        var dir = TestSetup.TempDir("ckpt-resave");
        var net = new TinyNet();
        var opt = Opt(net);
        new CheckpointStore(dir).Save(net, opt, new TrainingState { Step = 5, Extra = { ["copy"] = "old" } });
        var crashing = new CheckpointStore(dir) { OnSaveStage = stage => { if (stage == crashAt) throw new IOException("killed"); } };
        Assert.Throws<IOException>(() => crashing.Save(net, opt, new TrainingState { Step = 5, Extra = { ["copy"] = "new" } }));

        // What the next start finds: a checkpoint of step 5, intact (old or new copy), and no leftovers after loading.
        var warnings = new StringWriter();
        var state = new CheckpointStore(dir) { Warnings = warnings }.LoadLatest(new TinyNet(), Opt(new TinyNet()));
        Assert.Equal(5, state!.Step);
        Assert.Equal(crashAt == "complete" ? "old" : "new", state.Extra["copy"]);
        Assert.Equal("", warnings.ToString());
        Assert.Equal(["step-00000005"], Directory.GetDirectories(dir).Select(d => Path.GetFileName(d)!).ToArray());
    }

    [Fact]
    public void Checkpoints_from_before_manifests_still_load()
    {
        var dir = TestSetup.TempDir("ckpt-legacy");
        var net = new TinyNet();
        var store = new CheckpointStore(dir);
        var folder = store.Save(net, null, new TrainingState { Step = 7 });
        // An older save: no manifest, and a state.json without the schedule record.
        File.Delete(Path.Combine(folder, CheckpointStore.ManifestFile));
        File.WriteAllText(Path.Combine(folder, CheckpointStore.StateFile), "{\"step\": 7, \"consumed_batches\": 0, \"seed\": 0, \"extra\": {}}");
        Assert.Equal(7, store.LoadLatest(new TinyNet(), null)!.Step);
    }

    [Fact]
    public void A_full_disk_during_a_save_keeps_the_previous_checkpoint_and_is_an_out_of_resources_error()
    {
        var dir = TestSetup.TempDir("ckpt-full");
        var net = new TinyNet();
        var store = new CheckpointStore(dir);
        store.Save(net, null, new TrainingState { Step = 1 });
        AvBert.Storage.AtomicFile.StreamWrapper.Value = s => new AvBert.Tests.Storage.AtomicFileTests.FullDisk(s, room: 64);
        try
        {
            var e = Assert.ThrowsAny<UserError>(() => store.Save(net, null, new TrainingState { Step = 2 }));
            Assert.Equal(ExitCodes.OutOfResources, e.ExitCode);
            Assert.Contains("disk is full", e.Message);
        }
        finally { AvBert.Storage.AtomicFile.StreamWrapper.Value = null; }
        Assert.Equal(["step-00000001"], Directory.GetDirectories(dir).Select(d => Path.GetFileName(d)!).ToArray());
        Assert.Equal(1, store.LoadLatest(new TinyNet(), null)!.Step);
    }
}
