using AvBert.Distributed;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Distributed;

/// <summary>The decisions every rank must take together, seen from rank 0 of 2 with rank 1's contributions given.</summary>
public class StepAgreementTests
{
    /// <summary>Sums rank 1's values into every host all-reduce; tensors (gradients) are averaged with rank 1's zeros.</summary>
    sealed class OtherRank(Func<int, double[]> contributions) : ICollectives
    {
        int _call;
        public string Backend => "test";
        public void AllReduceMean(Tensor t, string what) => t.div_(2);
        public void AllReduceSum(Tensor t, string what) { }
        public void Broadcast(Tensor t, int root, string what) { }
        public void Broadcast(byte[] bytes, int root, string what) { }
        public void AllReduceSum(double[] values, string what)
        {
            var other = contributions(_call++);
            for (int i = 0; i < values.Length; i++) values[i] += other[i];
        }
        public void Dispose() { }
    }

    static readonly WorldLayout Rank0Of2 = new(0, 2, 0, 2, "test");

    static (DataParallel Dp, TorchSharp.Modules.Parameter P) Setup(Func<int, double[]> otherRank)
    {
        var p = new TorchSharp.Modules.Parameter(ones(3));
        (p * 4).sum().backward();
        return (new DataParallel(Rank0Of2, new OtherRank(otherRank)), p);
    }

    [Fact]
    public void Values_and_gradients_are_averaged_over_the_ranks()
    {
        // Call 0: the status flags (rank 1: no error, finite). Call 1: rank 1's values.
        var (dp, p) = Setup(call => call == 0 ? [0, 0, 0, 0] : [3.0, 5.0]);
        using var _ = dp;
        double[] values = [1.0, 1.0];
        Assert.Equal("", dp.AfterBackward(values, null, [p], this, step: 1));
        Assert.Equal([2.0, 3.0], values);
        Assert.Equal(2f, p.grad!.mean().item<float>()); // (4 + 0) / 2
    }

    [Fact]
    public void A_non_finite_value_on_another_rank_stops_this_rank_too_and_names_that_rank()
    {
        var (dp, p) = Setup(call => call == 0 ? [0, 0, 0, 1] : [double.NaN, 1.0]);
        using var _ = dp;
        double[] values = [1.0, 1.0];
        var note = dp.AfterBackward(values, null, [p], this, step: 7);
        Assert.Equal("first seen on rank 1", note);
        var e = Assert.Throws<TrainingDiverged>(() => NonFiniteGuard.Check(7, new Dictionary<string, double> { ["loss"] = values[0] }, note));
        Assert.Contains("rank 1", e.Message);
    }

    [Fact]
    public void A_native_error_on_another_rank_makes_this_rank_retry_with_it()
    {
        var (dp, p) = Setup(_ => [0, 1, 0, 0]);
        using var _ = dp;
        var e = Assert.Throws<PeerNativeError>(() => dp.AfterBackward([1.0], null, [p], this, step: 3));
        Assert.Contains("rank 1", e.Message);
        // NativeErrorRetry treats it as its own native error: one more attempt, resuming.
        int attempts = 0;
        var resumed = NativeErrorRetry.Run((resume, _) => attempts++ == 0 ? throw e : resume, resume: false, retries: 1, TextWriter.Null);
        Assert.True(resumed);
    }
}

/// <summary>The collective watchdog's scopes nest: a collective watched inside a longer stretch leaves the stretch watched.</summary>
public class CollectiveWatchdogTests
{
    [Fact]
    public void A_scope_inside_another_gives_the_outer_one_back_when_it_ends()
    {
        using var dog = new AvBert.Distributed.CollectiveWatchdog(0, TimeSpan.FromHours(1));
        Assert.Null(dog.Watching);
        using (dog.Watch("step 7"))
        {
            using (dog.Watch("the averaging of the BatchNorm statistics")) Assert.Equal("the averaging of the BatchNorm statistics", dog.Watching);
            Assert.Equal("step 7", dog.Watching);   // before: nothing was watched after the inner scope, and a hang there waited forever
            using (dog.Watch("the comparison of the ranks' weights before a checkpoint")) { }
            Assert.Equal("step 7", dog.Watching);
        }
        Assert.Null(dog.Watching);
    }
}
