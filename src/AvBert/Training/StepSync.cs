using AvBert.Distributed;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>
/// Everything <see cref="Trainer"/> does differently as one rank of a data-parallel job (docs/scaling-out.md), behind one
/// seam: <see cref="SingleProcessSync"/> does nothing, <see cref="DataParallelSync"/> talks to the other ranks. The rest of
/// data parallelism is the caller's: each rank's slice of the batch and of the data (<c>DataParallel.RankBatch</c>,
/// <c>DataParallel.Shard</c> in the loader options) and rank 0 alone writing what the job writes after training.
/// </summary>
public interface IStepSync
{
    /// <summary>The process that writes the run folder (metrics, checkpoints, curves) and shows progress: a single process, or rank 0.</summary>
    bool IsRoot { get; }
    /// <summary>This process's rank (0 in a single process): added to each micro-step's seed, so that every rank draws its own masks.</summary>
    int Rank { get; }
    /// <summary>The processes that train together (1 in a single process): a step's items are this many ranks' items.</summary>
    int Size { get; }
    /// <summary>A native libtorch error in a micro-step is handed to <see cref="AfterBackward"/> (every rank retries together)
    /// rather than thrown where it happens.</summary>
    bool AgreesOnNativeErrors { get; }
    /// <summary>Whether a cancelled run (Ctrl+C) saves the steps it finished: not in a job, whose ranks may stop at different steps.</summary>
    bool SavesOnCancel { get; }
    /// <summary>What a divergence message adds about the ranks ("first seen on rank 1"); "" when there is nothing to say.</summary>
    string DivergenceNote { get; }

    /// <summary>Before the first step: every rank starts from rank 0's weights.</summary>
    void Start(nn.Module model);
    /// <summary>Watches a stretch of collectives (a step): a rank stuck in one longer than the timeout ends the job. Null: nothing to watch.</summary>
    IDisposable? Watch(string what);
    /// <summary>
    /// After the micro-batches of step <paramref name="step"/> (1-based): the ranks agree on failures (rethrowing
    /// <paramref name="nativeError"/> or another rank's), then average the step's logged <paramref name="values"/> [parts]
    /// (float64; null when <paramref name="nativeError"/> is set) and the gradients. Returns the values to log.
    /// </summary>
    Tensor AfterBackward(Tensor? values, Exception? nativeError, TrainingOptimizer optimizer, long step);
    /// <summary>Before a checkpoint: the BatchNorm statistics averaged and the ranks' weights compared; the world size (and
    /// the weights' checksums) recorded in <paramref name="extra"/>, the checkpoint's state.</summary>
    void BeforeCheckpoint(nn.Module model, IDictionary<string, string> extra);
}

/// <summary>A process that trains alone: no other rank to wait for or agree with.</summary>
public sealed class SingleProcessSync : IStepSync
{
    public static readonly SingleProcessSync Instance = new();

    SingleProcessSync() { }

    public bool IsRoot => true;
    public int Rank => 0;
    public int Size => 1;
    public bool AgreesOnNativeErrors => false;
    public bool SavesOnCancel => true;
    public string DivergenceNote => "";
    public void Start(nn.Module model) { }
    public IDisposable? Watch(string what) => null;
    public Tensor AfterBackward(Tensor? values, Exception? nativeError, TrainingOptimizer optimizer, long step) =>
        values ?? throw new InvalidOperationException("a single process has no native error to agree on", nativeError);

    public void BeforeCheckpoint(nn.Module model, IDictionary<string, string> extra)
    {
        extra["world_size"] = "1";
        extra.Remove("weight_checksums");
    }
}

/// <summary>One rank of a data-parallel job: what <see cref="DataParallel"/> does for the trainer, called at the trainer's seams.</summary>
public sealed class DataParallelSync(DataParallel job) : IStepSync
{
    public bool IsRoot => job.Rank == 0;
    public int Rank => job.Rank;
    public int Size => job.Size;
    public bool AgreesOnNativeErrors => true;
    public bool SavesOnCancel => false;
    public string DivergenceNote { get; private set; } = "";
    public void Start(nn.Module model) => job.BroadcastState(model);
    public IDisposable? Watch(string what) => job.Watch(what);

    public Tensor AfterBackward(Tensor? values, Exception? nativeError, TrainingOptimizer optimizer, long step)
    {
        // The collectives synchronise anyway, so the values are read here (a NaN on one rank makes the mean NaN on every rank).
        var host = nativeError is not null ? null : values!.cpu().data<double>().ToArray(); // host read: data parallel only, beside the collectives
        string note = job.AfterBackward(host, nativeError, optimizer.Parameters, optimizer, step);
        if (note.Length > 0 && DivergenceNote.Length == 0) DivergenceNote = note;
        return tensor(host!, float64, values!.device);
    }

    public void BeforeCheckpoint(nn.Module model, IDictionary<string, string> extra) => DataParallel.BeforeCheckpoint(model, extra);
}
