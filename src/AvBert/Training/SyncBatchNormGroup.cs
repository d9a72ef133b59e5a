using AvBert.Config;
using AvBert.Distributed;
using AvBert.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>
/// train.sync_batchnorm (docs/scaling-out.md, "SyncBatchNorm"): in a data-parallel job, the model's
/// <see cref="SyncBatchNorm"/> layers normalise over the job's ranks through its all-reduce; otherwise (one process, or
/// the key off) each keeps its own batch, as a plain BatchNorm.
/// </summary>
public static class SyncBatchNormGroup
{
    /// <summary>Connects <paramref name="root"/>'s SyncBatchNorm layers to the job's ranks when <paramref name="train"/> asks
    /// for it in a data-parallel job. Returns whether it synchronises.</summary>
    public static bool Apply(nn.Module root, TrainConfig train)
    {
        var collectives = train.SyncBatchnorm ? DataParallel.Current?.Collectives : null;
        SyncBatchNorm.Apply(root, collectives is null ? null : new JobRanks(collectives));
        return collectives is not null;
    }

    sealed class JobRanks(ICollectives collectives) : IRankSum
    {
        public void AllReduceSum(Tensor t, string what) => collectives.AllReduceSum(t, what);
    }
}
