using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>
/// The CNNs' BatchNorm (train.sync_batchnorm, docs/scaling-out.md "SyncBatchNorm"). Without a
/// <see cref="Group"/> (a single process, or train.sync_batchnorm off) and in eval mode it is TorchSharp's BatchNorm,
/// call for call: the same parameters, buffers and state-dict keys. With a group, a train-mode forward normalises with
/// the moments of the <b>global</b> batch, as PySlowFast's sync_batchnorm: the per-channel Σx and count summed over the
/// ranks give the mean, then Σ(x − mean)² summed over the ranks the variance (two small all-reduces, C+1 and C values);
/// the running statistics take the global mean and unbiased global variance, as one process on the whole batch would.
/// The all-reduce is an autograd function whose backward sums the gradient over the ranks, so the backward is exact too.
/// </summary>
/// <summary>The ranks a <see cref="SyncBatchNorm"/> normalises over: sums a tensor in place over them (in a data-parallel
/// job, the job's all-reduce; Training/SyncBatchNormGroup connects the two).</summary>
public interface IRankSum
{
    void AllReduceSum(Tensor t, string what);
}

public abstract class SyncBatchNorm(long features, double eps, double momentum, string name)
    : TorchSharp.Modules.BatchNorm(features, eps, momentum, affine: true, track_running_stats: true, device: null, dtype: null, name)
{
    /// <summary>The ranks whose batches this layer normalises together; null: this rank's batch alone (plain BatchNorm).</summary>
    public IRankSum? Group { get; set; }

    /// <summary>Sets <see cref="Group"/> on every such BatchNorm under <paramref name="root"/> (null: each rank's batch alone).</summary>
    public static void Apply(nn.Module root, IRankSum? group)
    {
        foreach (var m in root.modules().Prepend(root).OfType<SyncBatchNorm>()) m.Group = group;
    }

    public override Tensor forward(Tensor input)
    {
        if (!training || Group is not { } group) return base.forward(input);
        ValidateInputDimensions(input);
        return GlobalBatchNorm(input, group);
    }

    Tensor GlobalBatchNorm(Tensor x, IRankSum group)
    {
        using var scope = NewDisposeScope();
        long c = x.shape[1];
        var dims = Enumerable.Range(0, (int)x.ndim).Where(d => d != 1).Select(d => (long)d).ToArray();
        var shape = Enumerable.Repeat(1L, (int)x.ndim).ToArray();
        shape[1] = c;
        // The moments in float32 at least (x may be bf16/fp16 under autocast, where BatchNorm computes in float32 too).
        var xf = x.dtype is ScalarType.Float32 or ScalarType.Float64 ? x : x.to(float32);
        // Two passes, as libtorch's BatchNorm: the global mean first, then the global Σ(x − mean)². (Σx² − N·mean² in one
        // all-reduce loses the variance to cancellation in float32 where it is small beside mean², e.g. a stem's BatchNorm
        // on plain-colour frames.)
        var sums = RankGather.AllReduceSum(group, cat([xf.sum(dims), full([1], x.numel() / c, xf.dtype, xf.device)]), "the BatchNorm means");
        var count = sums.narrow(0, c, 1);
        var mean = sums.narrow(0, 0, c) / count;
        var centred = xf - mean.view(shape);
        var variance = RankGather.AllReduceSum(group, (centred * centred).sum(dims), "the BatchNorm variances") / count;
        var scale = (variance + eps).rsqrt() * weight!;
        var y = addcmul(bias!.view(shape), centred, scale.view(shape), 1);
        UpdateRunningStatistics(mean, variance, count);
        return (y.dtype == x.dtype ? y : y.to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>As TorchSharp's BatchNorm: the batch counter, then the moving averages with the global mean and the
    /// unbiased global variance.</summary>
    void UpdateRunningStatistics(Tensor mean, Tensor variance, Tensor count)
    {
        using var _ = no_grad();
        double factor = momentum ?? 0.0;
        if (num_batches_tracked is not null)
        {
            num_batches_tracked.add_(1);
            if (momentum is null) factor = 1.0 / num_batches_tracked.item<long>();
        }
        var unbiased = variance * count / (count - 1);
        running_mean!.mul_(1 - factor).add_(mean.to(running_mean.dtype), alpha: factor);
        running_var!.mul_(1 - factor).add_(unbiased.to(running_var.dtype), alpha: factor);
    }
}

/// <summary>BatchNorm over [N, C, H, W] (the audio CNN), global-batch in a synchronised data-parallel job (<see cref="SyncBatchNorm"/>).</summary>
public sealed class SyncBatchNorm2d(long features, double eps = 1e-5, double momentum = 0.1)
    : SyncBatchNorm(features, eps, momentum, nameof(SyncBatchNorm2d))
{
    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim != 4) throw new ArgumentException($"expected 4D input, but got {input.ndim}D input.");
    }
}

/// <summary>BatchNorm over [N, C, T, H, W] (the visual CNN), global-batch in a synchronised data-parallel job (<see cref="SyncBatchNorm"/>).</summary>
public sealed class SyncBatchNorm3d(long features, double eps = 1e-5, double momentum = 0.1)
    : SyncBatchNorm(features, eps, momentum, nameof(SyncBatchNorm3d))
{
    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim != 5) throw new ArgumentException($"expected 5D input, but got {input.ndim}D input.");
    }
}
