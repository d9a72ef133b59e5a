using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Distributed;

/// <summary>
/// The collectives data parallelism needs, over one backend. Tensors are reduced in place and must be contiguous and
/// the same size on every rank; every rank must make the same calls in the same order.
/// </summary>
public interface ICollectives : IDisposable
{
    /// <summary>"mpi", "nccl" or "mpi-staged" (CUDA tensors through host memory and MPI).</summary>
    string Backend { get; }
    /// <summary>Replaces <paramref name="t"/> by the mean of its values over the ranks.</summary>
    void AllReduceMean(Tensor t, string what);
    /// <summary>Replaces <paramref name="t"/> by the sum of its values over the ranks (SyncBatchNorm's moments and their gradients).</summary>
    void AllReduceSum(Tensor t, string what);
    /// <summary>Replaces <paramref name="t"/> by rank <paramref name="root"/>'s values.</summary>
    void Broadcast(Tensor t, int root, string what);
    /// <summary>Sums host values over the ranks (losses, flags, checksums).</summary>
    void AllReduceSum(double[] values, string what);
    /// <summary>Rank <paramref name="root"/>'s bytes on every rank (same length everywhere).</summary>
    void Broadcast(byte[] bytes, int root, string what);
}

/// <summary>
/// Open MPI for CPU tensors (straight from the tensor's memory); CUDA tensors are staged through a cached pinned
/// host buffer (the path for ranks that share one GPU, which NCCL refuses, and for machines without NCCL).
/// </summary>
internal sealed class MpiCollectives(int size, bool staged = false) : ICollectives
{
    readonly Dictionary<(ScalarType, long), Tensor> _staging = [];

    public string Backend => staged ? "mpi-staged (GPU → pinned host → MPI)" : "mpi";

    public void AllReduceMean(Tensor t, string what) => AllReduce(t, what, mean: true);

    public void AllReduceSum(Tensor t, string what) => AllReduce(t, what, mean: false);

    void AllReduce(Tensor t, string what, bool mean)
    {
        if (t.device_type != DeviceType.CPU)
        {
            var host = Staging(t);
            host.copy_(t.reshape(-1));
            AllReduce(host, what, mean);
            t.copy_(host.view_as(t));
            return;
        }
        if (t.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            // Half-precision sums over MPI: in float32, then back.
            using var wide = t.to(float32);
            AllReduce(wide, what, mean);
            t.copy_(wide);
            return;
        }
        var type = t.dtype == ScalarType.Float64 ? Mpi.Double : Mpi.Float;
        long n = t.numel(), chunk = int.MaxValue / 2;
        int itemSize = t.dtype == ScalarType.Float64 ? 8 : 4;
        var address = TensorMemory.Address(t);
        for (long offset = 0; offset < n; offset += chunk)
            Mpi.AllReduce(address + (nint)(offset * itemSize), (int)Math.Min(chunk, n - offset), type, Mpi.Sum, what);
        if (mean) t.div_(size);
    }

    public void Broadcast(Tensor t, int root, string what)
    {
        if (t.device_type != DeviceType.CPU)
        {
            using var host = t.cpu().contiguous();
            Broadcast(host, root, what);
            t.copy_(host);
            return;
        }
        long bytes = t.numel() * t.element_size(), chunk = int.MaxValue / 2;
        var address = TensorMemory.Address(t);
        for (long offset = 0; offset < bytes; offset += chunk)
            Mpi.Broadcast(address + (nint)offset, (int)Math.Min(chunk, bytes - offset), Mpi.Byte, root, what);
    }

    public unsafe void AllReduceSum(double[] values, string what)
    {
        fixed (double* p = values) Mpi.AllReduce((IntPtr)p, values.Length, Mpi.Double, Mpi.Sum, what);
    }

    public unsafe void Broadcast(byte[] bytes, int root, string what)
    {
        fixed (byte* p = bytes) Mpi.Broadcast((IntPtr)p, bytes.Length, Mpi.Byte, root, what);
    }

    Tensor Staging(Tensor t)
    {
        var key = (t.dtype, t.numel());
        if (!_staging.TryGetValue(key, out var host))
            _staging[key] = host = empty([t.numel()], t.dtype, CPU).pin_memory().DetachFromDisposeScope();
        return host;
    }

    public void Dispose()
    {
        foreach (var t in _staging.Values) t.Dispose();
        _staging.Clear();
    }
}

/// <summary>NCCL for CUDA tensors (on libtorch's current stream: no host sync); host values and CPU tensors over MPI.</summary>
internal sealed class NcclCollectives : ICollectives
{
    readonly MpiCollectives _mpi;
    readonly IntPtr _comm;
    readonly int _device;

    public NcclCollectives(int rank, int size, int device)
    {
        _mpi = new MpiCollectives(size);
        _device = device;
        // Rank 0 makes the unique id; MPI carries it to the others.
        var id = rank == 0 ? Nccl.NewUniqueId() : default;
        var bytes = new byte[128];
        unsafe { new ReadOnlySpan<byte>(&id, 128).CopyTo(bytes); }
        _mpi.Broadcast(bytes, 0, "broadcast of the NCCL unique id");
        unsafe { fixed (byte* p = bytes) id = *(Nccl.UniqueId*)p; }
        Nccl.UseDevice(device);
        _comm = Nccl.InitRank(size, id, rank);
    }

    public string Backend => "nccl";

    public void AllReduceMean(Tensor t, string what)
    {
        if (t.device_type != DeviceType.CUDA) { _mpi.AllReduceMean(t, what); return; }
        AllReduce(t, Nccl.ReduceOp.Avg, what);
    }

    public void AllReduceSum(Tensor t, string what)
    {
        if (t.device_type != DeviceType.CUDA) { _mpi.AllReduceSum(t, what); return; }
        AllReduce(t, Nccl.ReduceOp.Sum, what);
    }

    void AllReduce(Tensor t, Nccl.ReduceOp op, string what) =>
        Nccl.AllReduce(TensorMemory.Address(t), t.numel(), TypeOf(t), op, _comm, Nccl.CurrentStream(_device), what);

    public void Broadcast(Tensor t, int root, string what)
    {
        if (t.device_type != DeviceType.CUDA) { _mpi.Broadcast(t, root, what); return; }
        Nccl.Broadcast(TensorMemory.Address(t), t.numel() * t.element_size(), Nccl.DataType.Uint8, root, _comm, Nccl.CurrentStream(_device), what);
    }

    public void AllReduceSum(double[] values, string what) => _mpi.AllReduceSum(values, what);
    public void Broadcast(byte[] bytes, int root, string what) => _mpi.Broadcast(bytes, root, what);

    static Nccl.DataType TypeOf(Tensor t) => t.dtype switch
    {
        ScalarType.Float32 => Nccl.DataType.Float32,
        ScalarType.Float64 => Nccl.DataType.Float64,
        ScalarType.Float16 => Nccl.DataType.Float16,
        ScalarType.BFloat16 => Nccl.DataType.BFloat16,
        _ => throw new ArgumentException($"NCCL all-reduce of {t.dtype} tensors is not supported"),
    };

    public void Dispose()
    {
        Nccl.Abort(_comm);
        _mpi.Dispose();
    }
}
