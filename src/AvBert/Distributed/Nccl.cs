using System.Runtime.InteropServices;
using AvBert.Runtime;

namespace AvBert.Distributed;

/// <summary>
/// NCCL for CUDA tensors, P/Invoked on <c>libnccl.so.2</c>. It is looked up on the library path, then beside the
/// libtorch in use (PyTorch wheels keep it in <c>site-packages/nvidia/nccl/lib</c>, two levels above <c>torch/lib</c>),
/// or at <c>AVBERT_NCCL_LIBRARY</c>. Collectives are enqueued on the CUDA stream libtorch computes on (read from
/// <c>c10::cuda::getCurrentCUDAStream</c>; TorchSharp never changes it, so it is the default stream when the symbol is
/// absent), so no host synchronisation is needed: later kernels on that stream see the reduced values.
/// <para>Written against NCCL 2.x's C API (ncclAvg needs 2.10+). Verified on CPU machines only as far as loading goes:
/// the GPU path must be checked on a GPU machine (docs/scaling-out.md).</para>
/// </summary>
internal static unsafe class Nccl
{
    const string Lib = "libnccl.so.2";

    public enum DataType { Int8 = 0, Uint8 = 1, Int32 = 2, Uint32 = 3, Int64 = 4, Uint64 = 5, Float16 = 6, Float32 = 7, Float64 = 8, BFloat16 = 9 }
    public enum ReduceOp { Sum = 0, Prod = 1, Max = 2, Min = 3, Avg = 4 }

    /// <summary>ncclUniqueId: 128 opaque bytes made by rank 0 and broadcast to the others (over MPI here).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    public struct UniqueId { fixed byte _bytes[128]; }

    [StructLayout(LayoutKind.Sequential)]
    struct CudaStreamValue { public long A, B; } // c10::cuda::CUDAStream: {Device (2 bytes), padding, StreamId (int64)}

    static delegate* unmanaged<UniqueId*, int> _getUniqueId;
    static delegate* unmanaged<IntPtr*, int, UniqueId, int, int> _commInitRank;
    static delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> _allReduce;
    static delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> _broadcast;
    static delegate* unmanaged<IntPtr, int> _commAbort;
    static delegate* unmanaged<int, IntPtr> _errorString;
    static delegate* unmanaged<sbyte, CudaStreamValue> _currentStream;
    static delegate* unmanaged<CudaStreamValue*, IntPtr> _streamOf;
    static delegate* unmanaged<sbyte, byte, void> _setDeviceForce;   // c10::cuda::set_device(DeviceIndex, bool) (PyTorch ≥ 2.4)
    static delegate* unmanaged<sbyte, void> _setDevice;              // c10::cuda::set_device(DeviceIndex) (older)

    /// <summary>Loads NCCL; false (with the reason) when it is not installed.</summary>
    public static bool TryLoad(out string where)
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("AVBERT_NCCL_LIBRARY") is { Length: > 0 } env) candidates.Add(env);
        candidates.Add(Lib);
        if (TorchRuntime.LoadedLibTorch() is { } torchLib)
        {
            candidates.Add(Path.Combine(torchLib, Lib));
            candidates.Add(Path.GetFullPath(Path.Combine(torchLib, "..", "..", "nvidia", "nccl", "lib", Lib)));
        }
        foreach (var c in candidates)
        {
            if (!NativeLibrary.TryLoad(c, out var h)) continue;
            _getUniqueId = (delegate* unmanaged<UniqueId*, int>)NativeLibrary.GetExport(h, "ncclGetUniqueId");
            _commInitRank = (delegate* unmanaged<IntPtr*, int, UniqueId, int, int>)NativeLibrary.GetExport(h, "ncclCommInitRank");
            _allReduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)NativeLibrary.GetExport(h, "ncclAllReduce");
            _broadcast = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)NativeLibrary.GetExport(h, "ncclBroadcast");
            _commAbort = (delegate* unmanaged<IntPtr, int>)NativeLibrary.GetExport(h, "ncclCommAbort");
            _errorString = (delegate* unmanaged<int, IntPtr>)NativeLibrary.GetExport(h, "ncclGetErrorString");
            LoadStreamLookup();
            where = c;
            return true;
        }
        where = $"{Lib} not found (looked at: {string.Join(", ", candidates)})";
        return false;
    }

    static void LoadStreamLookup()
    {
        if (!NativeLibrary.TryLoad("libc10_cuda.so", out var c10)) return;
        if (NativeLibrary.TryGetExport(c10, "_ZN3c104cuda20getCurrentCUDAStreamEa", out var get) &&
            NativeLibrary.TryGetExport(c10, "_ZNK3c104cuda10CUDAStream6streamEv", out var raw))
        {
            _currentStream = (delegate* unmanaged<sbyte, CudaStreamValue>)get;
            _streamOf = (delegate* unmanaged<CudaStreamValue*, IntPtr>)raw;
        }
        if (NativeLibrary.TryGetExport(c10, "_ZN3c104cuda10set_deviceEab", out var setForce)) _setDeviceForce = (delegate* unmanaged<sbyte, byte, void>)setForce;
        else if (NativeLibrary.TryGetExport(c10, "_ZN3c104cuda10set_deviceEa", out var set)) _setDevice = (delegate* unmanaged<sbyte, void>)set;
    }

    /// <summary>
    /// Makes <paramref name="device"/> this thread's current CUDA device (libtorch's own setter): ncclCommInitRank binds
    /// the communicator to the current device, which is GPU 0 in every rank unless set.
    /// </summary>
    public static void UseDevice(int device)
    {
        if (_setDeviceForce != null) _setDeviceForce((sbyte)device, 1);
        else if (_setDevice != null) _setDevice((sbyte)device);
        else throw new DistributedError("cannot set the current CUDA device for NCCL (c10::cuda::set_device not found in libc10_cuda.so). " +
                                        "Fix: AVBERT_COLLECTIVES=mpi (the staged path), or report the libtorch version.");
    }

    /// <summary>The cudaStream_t libtorch computes on for <paramref name="device"/> (the default stream when unknown).</summary>
    public static IntPtr CurrentStream(int device)
    {
        if (_currentStream == null) return IntPtr.Zero;
        var s = _currentStream((sbyte)device);
        return _streamOf(&s);
    }

    public static UniqueId NewUniqueId()
    {
        UniqueId id;
        Check(_getUniqueId(&id), "ncclGetUniqueId");
        return id;
    }

    public static IntPtr InitRank(int size, UniqueId id, int rank)
    {
        IntPtr comm;
        Check(_commInitRank(&comm, size, id, rank), "ncclCommInitRank");
        return comm;
    }

    public static void AllReduce(IntPtr buffer, long count, DataType type, ReduceOp op, IntPtr comm, IntPtr stream, string what) =>
        Check(_allReduce(buffer, buffer, (nuint)count, (int)type, (int)op, comm, stream), what);

    public static void Broadcast(IntPtr buffer, long count, DataType type, int root, IntPtr comm, IntPtr stream, string what) =>
        Check(_broadcast(buffer, buffer, (nuint)count, (int)type, root, comm, stream), what);

    public static void Abort(IntPtr comm) { if (_commAbort != null && comm != IntPtr.Zero) _commAbort(comm); }

    static void Check(int rc, string what)
    {
        if (rc == 0) return;
        throw new DistributedError($"{what} failed: NCCL error {rc} ({Marshal.PtrToStringUTF8(_errorString(rc))}); set NCCL_DEBUG=WARN for details");
    }
}
