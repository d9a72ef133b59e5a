using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Distributed;

/// <summary>
/// Where the gradients live during the all-reduce: contiguous flat buckets, one dtype and device each. A fused
/// optimiser that already keeps its gradients in one flat buffer can implement this with <see cref="Gather"/> and
/// <see cref="Scatter"/> as no-ops and its buffer's slices as the buckets.
/// </summary>
public interface IFlatGradients
{
    /// <summary>The flat buffers to reduce, in the same order on every rank.</summary>
    IReadOnlyList<Tensor> Buckets { get; }
    /// <summary>Copies the parameters' gradients into the buckets.</summary>
    void Gather();
    /// <summary>Copies the (reduced) buckets back into the parameters' gradients.</summary>
    void Scatter();
}

/// <summary>
/// The gradients of a fixed parameter list copied into buckets of at most <c>bucketBytes</c> (25 MB, as PyTorch's DDP):
/// big enough that each all-reduce runs near the link's bandwidth, small enough that the copies stay cheap. Built once
/// per run; the parameter order (the optimiser's) is the same on every rank. A parameter without a gradient on this
/// rank contributes zeros and gets the reduced gradient like the others, so every rank steps the same parameters.
/// </summary>
public sealed class GradientBuckets : IFlatGradients, IDisposable
{
    public const long DefaultBucketBytes = 25L << 20;

    readonly List<(Tensor Flat, List<(Parameter P, long Offset)> Members)> _buckets = [];

    public GradientBuckets(IEnumerable<Parameter> parameters, long bucketBytes = DefaultBucketBytes)
    {
        foreach (var group in parameters.Where(p => p.requires_grad).GroupBy(p => (p.dtype, p.device.ToString())))
        {
            var members = new List<(Parameter, long)>();
            long used = 0, itemSize = group.First().element_size();
            void Close()
            {
                if (members.Count == 0) return;
                _buckets.Add((zeros([used], group.Key.dtype, group.First().device).DetachFromDisposeScope(), members)); // lives as long as the run
                members = [];
                used = 0;
            }
            foreach (var p in group)
            {
                if (used > 0 && (used + p.numel()) * itemSize > bucketBytes) Close();
                members.Add((p, used));
                used += p.numel();
            }
            Close();
        }
    }

    public IReadOnlyList<Tensor> Buckets => _buckets.Select(b => b.Flat).ToList();
    public long Elements => _buckets.Sum(b => b.Flat.numel());
    public long Bytes => _buckets.Sum(b => b.Flat.numel() * b.Flat.element_size());

    public void Gather()
    {
        using var _ = no_grad();
        foreach (var (flat, members) in _buckets)
            foreach (var (p, offset) in members)
            {
                using var slot = flat.narrow(0, offset, p.numel());
                if (p.grad is { } g) slot.copy_(g.reshape(-1));
                else slot.zero_();
            }
    }

    public void Scatter()
    {
        using var _ = no_grad();
        foreach (var (flat, members) in _buckets)
            foreach (var (p, offset) in members)
            {
                using var slot = flat.narrow(0, offset, p.numel());
                if (p.grad is { } g) g.copy_(slot.view_as(g));
                else TensorMemory.SetGradient(p, slot.view_as(p).clone());
            }
    }

    public void Dispose()
    {
        foreach (var (flat, _) in _buckets) flat.Dispose();
        _buckets.Clear();
    }
}
