using System.Runtime.InteropServices;

namespace AvBert.Distributed;

/// <summary>
/// The few MPI calls data parallelism needs, P/Invoked on Open MPI's <c>libmpi.so.40</c> (Debian/Ubuntu
/// <c>openmpi-bin libopenmpi-dev</c>; RHEL's <c>openmpi</c> module; cluster builds). Open MPI's handles are pointers to
/// exported globals (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_double</c>, <c>ompi_mpi_op_sum</c>…), read here once.
/// MPICH uses integer handles and another ABI: it is not supported.
/// Errors return (MPI_ERRORS_RETURN) instead of aborting, so a failed collective becomes a <see cref="DistributedError"/>
/// naming the rank.
/// </summary>
internal static unsafe class Mpi
{
    const string Lib = "libmpi.so.40";
    const int ThreadSerialized = 2;
    const int CommTypeShared = 0;
    public static readonly IntPtr InPlace = 1;

    public static IntPtr CommWorld, Double, Float, Byte, Sum, Min, Max;
    static IntPtr _errorsReturn, _infoNull;

    [DllImport("libdl.so.2", EntryPoint = "dlopen")] static extern IntPtr DlOpen(string file, int mode);
    [DllImport("libdl.so.2", EntryPoint = "dlerror")] static extern IntPtr DlError();

    [DllImport(Lib)] static extern int MPI_Initialized(out int flag);
    [DllImport(Lib)] static extern int MPI_Init_thread(IntPtr argc, IntPtr argv, int required, out int provided);
    [DllImport(Lib)] static extern int MPI_Finalize();
    [DllImport(Lib)] static extern int MPI_Comm_rank(IntPtr comm, out int rank);
    [DllImport(Lib)] static extern int MPI_Comm_size(IntPtr comm, out int size);
    [DllImport(Lib)] static extern int MPI_Comm_split_type(IntPtr comm, int type, int key, IntPtr info, out IntPtr newComm);
    [DllImport(Lib)] static extern int MPI_Comm_set_errhandler(IntPtr comm, IntPtr handler);
    [DllImport(Lib)] static extern int MPI_Allreduce(IntPtr send, IntPtr recv, int count, IntPtr type, IntPtr op, IntPtr comm);
    [DllImport(Lib)] static extern int MPI_Bcast(IntPtr buffer, int count, IntPtr type, int root, IntPtr comm);
    [DllImport(Lib)] static extern int MPI_Barrier(IntPtr comm);
    [DllImport(Lib)] static extern int MPI_Abort(IntPtr comm, int code);
    [DllImport(Lib)] static extern int MPI_Error_string(int code, byte* text, out int length);

    /// <summary>Loads libmpi, initialises MPI and returns (rank, size, local rank, local size) as MPI sees them.</summary>
    public static (int Rank, int Size, int LocalRank, int LocalSize) Initialize()
    {
        // RTLD_NOW | RTLD_GLOBAL: Open MPI's plugins (dlopened by libmpi) resolve their symbols against libmpi's.
        if (DlOpen(Lib, 0x2 | 0x100) == IntPtr.Zero)
            throw new DistributedError($"this process was started by an MPI launcher but {Lib} could not be loaded " +
                                       $"({Marshal.PtrToStringUTF8(DlError())}). Fix: install Open MPI (apt-get install -y openmpi-bin libopenmpi-dev) " +
                                       "or load your cluster's Open MPI module so that it is on LD_LIBRARY_PATH.");
        var handle = NativeLibrary.Load(Lib);
        IntPtr Sym(string name) => NativeLibrary.GetExport(handle, name);
        CommWorld = Sym("ompi_mpi_comm_world");
        Double = Sym("ompi_mpi_double");
        Float = Sym("ompi_mpi_float");
        Byte = Sym("ompi_mpi_byte");
        Sum = Sym("ompi_mpi_op_sum");
        Min = Sym("ompi_mpi_op_min");
        Max = Sym("ompi_mpi_op_max");
        _errorsReturn = Sym("ompi_mpi_errors_return");
        _infoNull = Sym("ompi_mpi_info_null");

        Check(MPI_Initialized(out int done), "MPI_Initialized");
        if (done == 0) Check(MPI_Init_thread(IntPtr.Zero, IntPtr.Zero, ThreadSerialized, out _), "MPI_Init_thread");
        Check(MPI_Comm_set_errhandler(CommWorld, _errorsReturn), "MPI_Comm_set_errhandler");
        Check(MPI_Comm_rank(CommWorld, out int rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(CommWorld, out int size), "MPI_Comm_size");
        // The ranks on this machine: the processes that can share memory with this one.
        Check(MPI_Comm_split_type(CommWorld, CommTypeShared, rank, _infoNull, out IntPtr node), "MPI_Comm_split_type");
        Check(MPI_Comm_rank(node, out int localRank), "MPI_Comm_rank");
        Check(MPI_Comm_size(node, out int localSize), "MPI_Comm_size");
        return (rank, size, localRank, localSize);
    }

    public static void AllReduce(IntPtr buffer, int count, IntPtr type, IntPtr op, string what) =>
        Check(MPI_Allreduce(InPlace, buffer, count, type, op, CommWorld), what);

    public static void Broadcast(IntPtr buffer, int count, IntPtr type, int root, string what) =>
        Check(MPI_Bcast(buffer, count, type, root, CommWorld), what);

    public static void Barrier(string what) => Check(MPI_Barrier(CommWorld), what);

    public static void Shutdown() => MPI_Finalize();

    /// <summary>Ends every rank of the job (Open MPI's launcher kills the others).</summary>
    public static void Abort(int code) => MPI_Abort(CommWorld, code);

    static void Check(int rc, string what)
    {
        if (rc == 0) return;
        byte* text = stackalloc byte[512];
        string message = MPI_Error_string(rc, text, out int length) == 0 ? Marshal.PtrToStringUTF8((IntPtr)text, length) : $"error {rc}";
        throw new DistributedError($"{what} failed: {message} (another rank has probably died; see its error line)");
    }
}
