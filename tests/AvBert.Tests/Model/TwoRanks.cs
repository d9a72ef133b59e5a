using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>Two in-process ranks for the cross-rank layers (SyncBatchNorm, RankGather): each rank's tensor all-reduce
/// sums both ranks' tensors (a barrier between the two threads).</summary>
sealed class TwoRanks
{
    readonly Barrier _barrier = new(2);
    readonly Tensor?[] _slots = new Tensor?[2];
    public int Calls;

    public IRankGroup Rank(int rank) => new RankCollectives(this, rank);

    sealed class RankCollectives(TwoRanks world, int rank) : IRankGroup
    {
        public int Rank => rank;
        public int Size => 2;

        public void AllReduceSum(Tensor t, string what)
        {
            world._slots[rank] = t.detach().clone();
            world._barrier.SignalAndWait();
            using (no_grad()) t.copy_(world._slots[0]! + world._slots[1]!);
            world._barrier.SignalAndWait();
            if (rank == 0) Interlocked.Increment(ref world.Calls);
        }
    }

    /// <summary>Runs <paramref name="body"/>(rank) for ranks 0 and 1 on two threads, at once.</summary>
    public static T[] Run<T>(Func<int, T> body)
    {
        var results = new T[2];
        var errors = new Exception?[2];
        var threads = Enumerable.Range(0, 2).Select(r => new Thread(() =>
        {
            try { results[r] = body(r); }
            catch (Exception e) { errors[r] = e; }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(2)), "a rank did not finish (a collective left waiting?)");
        foreach (var e in errors) if (e is not null) throw new AggregateException(e);
        return results;
    }
}
