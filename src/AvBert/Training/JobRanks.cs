using AvBert.Distributed;
using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>The ranks of this process's data-parallel job as the model's cross-rank layers see them (SyncBatchNorm,
/// <see cref="RankGather"/>): its rank, its size and its all-reduce.</summary>
public sealed class JobRanks : IRankGroup
{
    readonly DataParallel job;

    JobRanks(DataParallel job) => this.job = job;

    /// <summary>This process's job; null when it is no rank of one.</summary>
    public static JobRanks? Current => DataParallel.Current is { } dp ? new JobRanks(dp) : null;

    public int Rank => job.Rank;
    public int Size => job.Size;
    public void AllReduceSum(Tensor t, string what) => job.Collectives.AllReduceSum(t, what);
}
