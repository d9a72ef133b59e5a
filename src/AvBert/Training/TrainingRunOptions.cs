using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>What every training job (pretrain, finetune) needs besides its config: where, on what, how to report.</summary>
public abstract record TrainingRunOptions
{
    /// <summary>RUN folder: config.yaml, checkpoints/, metrics.jsonl/.csv, tb/, PNG curves, skipped.tsv, model/.</summary>
    public required string RunDir { get; init; }
    /// <summary>Continue from the run's latest checkpoint.</summary>
    public bool Resume { get; init; }
    public Device? Device { get; init; }
    /// <summary>Decode threads of the loaders; 0 = one per core.</summary>
    public int Workers { get; init; }
    public ProgressMode Progress { get; init; } = ProgressMode.Auto;
    /// <summary>Where the run prints its few lines besides the progress (stdout by default).</summary>
    public TextWriter? Log { get; init; }
    /// <summary>Where warnings go (damaged checkpoints, a re-planned schedule); stderr by default.</summary>
    public TextWriter? Warnings { get; init; }
    /// <summary>Called after each optimiser step (tests, demos, the native-error retry).</summary>
    public Action<long, IReadOnlyDictionary<string, double>>? OnStep { get; init; }
    public CancellationToken Cancellation { get; init; }
}
