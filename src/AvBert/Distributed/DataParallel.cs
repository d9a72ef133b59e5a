using System.Runtime.InteropServices;
using AvBert.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Distributed;

/// <summary>
/// Data-parallel training across the processes of an MPI job (mpirun, srun --mpi=pmix): one process per GPU, or per
/// CPU machine. <see cref="Current"/> is null in a process started without a launcher, which then never loads MPI.
/// <para>What it does for the trainer: parameters and buffers broadcast from rank 0 at the start; gradients averaged in
/// flat buckets after the last micro-batch; the step's logged values averaged, and the decisions that must be the same
/// everywhere (a NaN, a native error to retry) taken together; BatchNorm statistics (per rank while training, as the
/// authors' DDP) averaged before every checkpoint and evaluation; a watchdog that ends a rank stuck in a collective.
/// Rank 0 alone writes the run folder.</para>
/// </summary>
public sealed class DataParallel : IDisposable
{
    /// <summary>The data-parallel job this process belongs to; null: a single process (the default).</summary>
    public static DataParallel? Current { get; private set; }
    /// <summary>True in a single process and on rank 0: the process that writes the run folder and prints progress.</summary>
    public static bool IsRoot => Current is null || Current.Rank == 0;
    /// <summary>"rank R: " in a job of several processes (for error lines), else "".</summary>
    public static string RankPrefix => Current is null ? "" : $"rank {Current.Rank}: ";

    readonly CollectiveWatchdog _watchdog;
    ICollectives? _collectives;
    GradientBuckets? _buckets;
    object? _bucketsFor;

    public WorldLayout Layout { get; }
    public int Rank => Layout.Rank;
    public int Size => Layout.Size;
    /// <summary>The collectives, chosen by <see cref="PlaceOn"/> from the training device.</summary>
    public ICollectives Collectives => _collectives ??= new MpiCollectives(Size);
    /// <summary>The device this rank trains on (set by <see cref="PlaceOn"/>).</summary>
    public Device? Device { get; private set; }
    public string Devices { get; private set; } = "cpu";

    DataParallel(WorldLayout layout)
    {
        Layout = layout;
        _watchdog = new CollectiveWatchdog(layout.Rank, CollectiveWatchdog.TimeoutFromEnvironment());
    }

    /// <summary>A rank over given collectives (tests: a stand-in for the other ranks).</summary>
    internal DataParallel(WorldLayout layout, ICollectives collectives) : this(layout) => _collectives = collectives;

    /// <summary>
    /// Joins the MPI job this process was launched in, if any (the launcher's variables, <see cref="WorldLayout"/>):
    /// initialises MPI and sets <see cref="Current"/>. A process without a launcher stays single and loads nothing.
    /// </summary>
    public static DataParallel? StartFromEnvironment()
    {
        var env = WorldLayout.FromEnvironment();
        if (!env.IsDistributed || Current is not null) return Current;
        var (rank, size, localRank, localSize) = Mpi.Initialize();
        if (size <= 1) { Mpi.Shutdown(); return null; }
        return Current = new DataParallel(new WorldLayout(rank, size, localRank, localSize, env.Launcher));
    }

    /// <summary>Ends MPI after a successful command (a failed rank exits without it, and the launcher ends the job).</summary>
    public static void Finish(bool success)
    {
        if (Current is not { } dp) return;
        dp.Dispose();
        if (success) Mpi.Shutdown();
        Current = null;
    }

    /// <summary>
    /// This rank's device and collectives. "cuda"/"auto" on a GPU machine: the GPU of the local rank (rank i of a machine
    /// on GPU i mod count); an explicit cuda:N is kept. On CPU, libtorch's threads are the cores divided by the ranks of
    /// this machine. NCCL for one GPU per rank; the staged MPI path when ranks share a GPU or NCCL is missing.
    /// </summary>
    public Device PlaceOn(Device requested, bool explicitIndex)
    {
        var device = requested;
        if (requested.type == DeviceType.CUDA)
        {
            int gpus = (int)cuda.device_count();
            if (!explicitIndex) device = new Device(DeviceType.CUDA, Layout.LocalRank % Math.Max(1, gpus));
            string choice = Environment.GetEnvironmentVariable("AVBERT_COLLECTIVES") ?? "auto";
            bool shared = Layout.LocalSize > gpus || explicitIndex;
            string? ncclWhere = null;
            if (choice is "nccl" || (choice is "auto" && !shared && Nccl.TryLoad(out ncclWhere)))
            {
                if (ncclWhere is null && !Nccl.TryLoad(out ncclWhere)) throw new DistributedError($"AVBERT_COLLECTIVES=nccl: {ncclWhere}");
                _collectives = new NcclCollectives(Rank, Size, device.index);
            }
            else _collectives = new MpiCollectives(Size, staged: true);
            Devices = $"{device} of {gpus} GPU(s) on this machine";
        }
        else
        {
            // Bound by the launcher (mpirun binds to cores by default): the cores it gave; else a share of the machine's.
            int threads = Environment.ProcessorCount < OnlineCpus() ? Environment.ProcessorCount
                        : Math.Max(1, Environment.ProcessorCount / Layout.LocalSize);
            set_num_threads(threads);
            _collectives = new MpiCollectives(Size);
            Devices = $"cpu, {threads} thread(s) per rank";
        }
        Device = device;
        return device;
    }

    /// <summary>
    /// This rank's share of a global batch (the config's batch sizes are global: the learning rate, schedule and steps
    /// mean the same whatever the world size). The whole batch in a single process.
    /// </summary>
    public static int RankBatch(int globalBatch, string field)
    {
        if (Current is not { } dp) return globalBatch;
        if (globalBatch % dp.Size != 0)
            throw new UserError($"{field} = {globalBatch} does not divide among {dp.Size} ranks. Fix: use a multiple of {dp.Size} " +
                                "(--set), or a world size that divides it.");
        return globalBatch / dp.Size;
    }

    /// <summary>The loader's slice for this rank (null in a single process).</summary>
    public static DataShard? Shard => Current is { } dp ? new DataShard(dp.Rank, dp.Size) : null;

    static int OnlineCpus()
    {
        try
        {
            // "0-15" or "0-3,8-11"
            return File.ReadAllText("/sys/devices/system/cpu/online").Trim().Split(',').Sum(r =>
            {
                var ends = r.Split('-').Select(int.Parse).ToArray();
                return ends.Length == 2 ? ends[1] - ends[0] + 1 : 1;
            });
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { return Environment.ProcessorCount; }
    }

    /// <summary>One line for `info` and the run log: world size, backend, devices.</summary>
    public string Describe() => $"data parallel: {Size} ranks ({Layout.LocalSize} on this machine, launched by {Layout.Launcher}); " +
                                $"backend {(_collectives?.Backend ?? "mpi")}; this is rank {Rank} on {Devices}";

    /// <summary>Watches a step (or any stretch of collectives): a rank stuck longer than the timeout ends the job.</summary>
    public IDisposable Watch(string what) => _watchdog.Watch(what);

    /// <summary>Rank 0's parameters and buffers on every rank (the start of a run, and after loading a checkpoint).</summary>
    public void BroadcastState(nn.Module module)
    {
        using var _ = no_grad();
        using var watch = Watch("the broadcast of the weights from rank 0");
        // A parameter in another memory order (channels-last convolution weights) is dense: its memory as one contiguous
        // run, which is the same on every rank since every rank lays the model out alike.
        foreach (var (name, p) in module.named_parameters())
            Collectives.Broadcast(p.is_contiguous() ? p : p.as_strided([p.numel()], [1L], p.storage_offset()), 0, $"broadcast of {name}");
        foreach (var (name, b) in module.named_buffers()) Collectives.Broadcast(b, 0, $"broadcast of {name}");
    }

    /// <summary>
    /// The mean of the floating-point buffers (BatchNorm running mean and variance) over the ranks; integer buffers
    /// (batch counters) are the same everywhere. Before checkpoints and evaluation.
    /// </summary>
    public void AverageBuffers(nn.Module module)
    {
        using var _ = no_grad();
        using var watch = Watch("the averaging of the BatchNorm statistics");
        foreach (var (name, b) in module.named_buffers())
            if (b.is_floating_point()) Collectives.AllReduceMean(b, $"all-reduce of {name}");
    }

    /// <summary>
    /// Before a checkpoint: averages the BatchNorm statistics, then checks that every rank holds the same weights (a
    /// checksum per rank, compared; a mismatch is a bug or a silent hardware fault and stops the job) and records the
    /// world size and the checksums in the checkpoint's state.
    /// </summary>
    public static void BeforeCheckpoint(nn.Module module, IDictionary<string, string> extra)
    {
        if (Current is not { } dp)
        {
            extra["world_size"] = "1";
            extra.Remove("weight_checksums");
            return;
        }
        dp.CheckAndRecordWeights(module, extra);
    }

    void CheckAndRecordWeights(nn.Module module, IDictionary<string, string> extra)
    {
        AverageBuffers(module);
        var sums = Gather(WeightChecksum(module), "the comparison of the ranks' weights before a checkpoint");
        var text = string.Join(",", sums.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        if (sums.Distinct().Count() > 1)
            throw new DistributedError($"the ranks' weights differ before a checkpoint (checksums {text}): data parallelism lost step. " +
                                       "Fix: report this; --resume continues from the last checkpoint.");
        extra["world_size"] = Size.ToString(System.Globalization.CultureInfo.InvariantCulture);
        extra["weight_checksums"] = text;
    }

    /// <summary>Σ over parameters and buffers of (index + 1) · Σ values, in float64: equal weights give equal sums.</summary>
    public static double WeightChecksum(nn.Module module)
    {
        using var _ = no_grad();
        double total = 0;
        int k = 0;
        foreach (var t in module.parameters().Cast<Tensor>().Concat(module.buffers()))
        {
            k++;
            if (!t.is_floating_point()) continue;
            using var sum = t.to(float64).sum();
            total += k * sum.item<double>();
        }
        return total;
    }

    /// <summary>Averages the gradients of <paramref name="parameters"/> over the ranks, bucket by bucket.</summary>
    public void AverageGradients(IEnumerable<TorchSharp.Modules.Parameter> parameters, object owner)
    {
        if (!ReferenceEquals(_bucketsFor, owner))
        {
            _buckets?.Dispose();
            _buckets = new GradientBuckets(parameters);
            _bucketsFor = owner;
        }
        AverageGradients(_buckets!);
    }

    /// <summary>Averages the gradients held by <paramref name="flat"/> (ours, or a fused optimiser's buffer).</summary>
    public void AverageGradients(IFlatGradients flat)
    {
        flat.Gather();
        int i = 0;
        foreach (var bucket in flat.Buckets) Collectives.AllReduceMean(bucket, $"all-reduce of gradient bucket {i++}");
        flat.Scatter();
    }

    /// <summary>
    /// After the micro-batches of a step, on every rank: the ranks agree on failures (a native libtorch error in a
    /// forward/backward is retried by every rank together; a non-finite value on any rank stops every rank), then the
    /// step's values and the gradients are averaged. Returns the note naming the ranks that saw a non-finite value
    /// ("" when none), for the divergence message.
    /// </summary>
    /// <param name="values">This rank's values of the step (averaged in place); null when <paramref name="nativeError"/> is set.</param>
    public string AfterBackward(double[]? values, Exception? nativeError, IEnumerable<TorchSharp.Modules.Parameter> parameters, object owner, long step)
    {
        var flags = new double[2 * Size];
        flags[Rank] = nativeError is null ? 0 : 1;
        flags[Size + Rank] = values is not null && values.Any(v => !double.IsFinite(v)) ? 1 : 0;
        Collectives.AllReduceSum(flags, "all-reduce of the step's status");
        int[] Ranks(int from) => Enumerable.Range(0, Size).Where(r => flags[from + r] > 0).ToArray();
        if (Ranks(0) is { Length: > 0 } failed)
        {
            if (nativeError is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(nativeError).Throw();
            throw new PeerNativeError($"rank {string.Join(", ", failed)} hit a libtorch error at step {step}");
        }
        Collectives.AllReduceSum(values!, "all-reduce of the step's losses");
        for (int i = 0; i < values!.Length; i++) values[i] /= Size;
        AverageGradients(parameters, owner);
        return Ranks(Size) is { Length: > 0 } bad ? $"first seen on rank {string.Join(", ", bad)}" : "";
    }

    /// <summary>Returns when every rank has got here.</summary>
    public void Synchronize(string what)
    {
        using var watch = Watch(what);
        Collectives.AllReduceSum(new double[1], what);
    }

    /// <summary>Every rank's <paramref name="value"/> (e.g. weight checksums), watched as <paramref name="what"/>.</summary>
    public double[] Gather(double value, string what)
    {
        using var watch = Watch(what);
        var all = new double[Size];
        all[Rank] = value;
        Collectives.AllReduceSum(all, "gather of one value per rank");
        return all;
    }

    public void Dispose()
    {
        _watchdog.Dispose();
        _buckets?.Dispose();
        _collectives?.Dispose();
    }
}

/// <summary>Another rank's forward/backward hit a native libtorch error: this rank starts again from the latest checkpoint
/// with it (an <see cref="ExternalException"/>, so the in-process retry treats it like its own).</summary>
public sealed class PeerNativeError(string message) : ExternalException(message);
