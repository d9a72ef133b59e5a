using AvBert.Config;
using AvBert.Runs;
using AvBert.Synthetic;
using AvBert.Tests.Downstream;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Runtime;
using AvBert.Tests.Data.Sources;
using AvBert.Data.Sources;

namespace AvBert.Tests.Runs;

public sealed class FinetuneSplitTests : IDisposable
{
    readonly string _root = TestSetup.TempDir("finetune-split");
    public void Dispose() => Directory.Delete(_root, true);

    /// <summary>A single-level folder per class (placeholder files: nothing is decoded): a 5, b 2, c 1.</summary>
    string SingleLevel()
    {
        foreach (var f in new[] { "a/1.mp4", "a/2.mp4", "a/3.mp4", "a/4.mp4", "a/5.mp4", "b/1.mp4", "b/2.mp4", "c/1.mp4" })
            Layout.Touch(_root, "flat/" + f);
        return "classes:" + Path.Combine(_root, "flat");
    }

    FinetuneSplit Choose(string data, Func<FinetuneOptions, FinetuneOptions>? with = null, int seed = 0)
    {
        var o = new FinetuneOptions { RunDir = _root, Data = data };
        if (with is not null) o = with(o);
        return FinetuneSplit.Choose(SourceLoader.Open(data, "train"), o, new DataConfig(), DownstreamTask.Visual, seed, new SkippedLog(null));
    }

    static IEnumerable<string> Paths(MediaSource? s) => s?.Items.Select(i => i.Path) ?? [];

    [Fact]
    public void A_class_folder_without_a_test_split_holds_out_a_stratified_fifth_by_default_and_says_so()
    {
        var split = Choose(SingleLevel());
        Assert.NotNull(split.Test);
        // round(0.2·5) = 1 of a, at least 1 of b, none of c (one video only trains).
        Assert.Equal([0, 1], split.Test!.Items.Select(i => i.Labels.Single()).Order());
        Assert.Equal(6, split.Train.Items.Count);
        Assert.Empty(Paths(split.Train).Intersect(Paths(split.Test)));            // held-out videos are never trained on
        Assert.Contains("no separate 'test' split", split.Line);
        Assert.Contains("--val-fraction", split.Line);
        Assert.Contains("--no-test", split.Line);
        Assert.Equal(Paths(split.Test), Paths(Choose(SingleLevel()).Test));          // seeded: the same hold-out every time
        Assert.True(Enumerable.Range(1, 8).Any(seed => !Paths(Choose(SingleLevel(), seed: seed).Test).SequenceEqual(Paths(split.Test))));
    }

    [Fact]
    public void Val_fraction_test_data_and_no_test_choose_the_test()
    {
        var data = SingleLevel();
        var half = Choose(data, o => o with { ValFraction = 0.6 });
        Assert.Equal(3 + 1, half.Test!.Items.Count);                                  // a: 3 of 5, b: 1 of 2, c: 0 of 1
        Assert.Contains("--val-fraction", half.Line);

        var none = Choose(data, o => o with { NoTest = true });
        Assert.Null(none.Test);
        Assert.Equal(8, none.Train.Items.Count);

        Layout.Touch(_root, "other/a/9.mp4"); Layout.Touch(_root, "other/b/9.mp4");
        var other = Choose(data, o => o with { TestData = Path.Combine(_root, "other") });   // a bare class folder
        Assert.Equal(2, other.Test!.Items.Count);
        Assert.Equal(8, other.Train.Items.Count);

        Assert.Contains("alternatives", Assert.Throws<UserError>(() => Choose(data, o => o with { NoTest = true, ValFraction = 0.2 })).Message);
        Assert.Contains("between 0 and 1", Assert.Throws<UserError>(() => Choose(data, o => o with { ValFraction = 1.5 })).Message);
    }

    [Fact]
    public void A_source_with_its_own_test_split_is_used_as_is_and_the_split_is_recorded()
    {
        foreach (var f in new[] { "train/a/1.mp4", "train/b/2.mp4", "test/a/3.mp4", "test/b/4.mp4" }) Layout.Touch(_root, "tt/" + f);
        var data = "classes:" + Path.Combine(_root, "tt");
        var split = Choose(data);
        Assert.Null(split.Line);
        Assert.Equal(2, split.Test!.Items.Count);
        split.Write(_root);
        // RUN/split.csv reads back as a source: its test split is exactly the test videos.
        var recorded = SourceLoader.Open("csv:" + Path.Combine(_root, FinetuneSplit.RecordFile), "test");
        Assert.Equal(Paths(split.Test), Paths(recorded));
        Assert.Equal(["a", "b"], recorded.Items.Select(i => recorded.ClassNames[i.Labels.Single()]));
    }
}
