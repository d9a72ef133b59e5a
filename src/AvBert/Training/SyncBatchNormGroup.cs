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
        var ranks = train.SyncBatchnorm ? JobRanks.Current : null;
        SyncBatchNorm.Apply(root, ranks);
        return ranks is not null;
    }
}
