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
}
