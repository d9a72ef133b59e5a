using AvBert.Config;
using AvBert.Downstream.Probing;
using AvBert.Runtime;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>How each cell is evaluated after pretraining.</summary>
public enum AblationProtocol
{
    /// <summary>Linear probes on frozen features: toy-av's in-memory probes (the demo's), or the downstream task's linear protocol.</summary>
    Probe,
    /// <summary>The downstream task's fine-tuning protocol, from the pretrained model.</summary>
    Finetune,
    /// <summary>Both.</summary>
    Both,
}

/// <summary>Everything `avbert ablate` needs besides the tables: where, on what data, how long, how evaluated.</summary>
public sealed record AblationOptions
{
    /// <summary>DIR: table.md, results.json, TABLE.png, ablation.json (the settings), cells/TABLE/ROW/seed-S/.</summary>
    public required string OutDir { get; init; }
    /// <summary>Pretraining data: <c>toy-av[:N]</c> (N new videos per epoch) or any unlabeled source.</summary>
    public string Data { get; init; } = "toy-av";
    /// <summary>Labeled source of the downstream task; null: the demo's protocol on <see cref="Data"/> itself (toy-av's in-memory
    /// probes, or a labelled source's own train/test split: pretraining on its training videos unlabelled, probes on frozen features).</summary>
    public string? Downstream { get; init; }
    public int Seeds { get; init; } = 3;
    /// <summary>Only these rows (their folder names, e.g. none, cross-layer); null: every row of each table.</summary>
    public IReadOnlyList<string>? Rows { get; init; }
    /// <summary>Pretraining steps; null: <see cref="DefaultSteps"/> on toy-av, the demo's on a labelled source probed as the demo does, the config's otherwise.</summary>
    public int? Steps { get; init; }

    /// <summary>Whether the cells are judged as `avbert demo` judges a model: no --downstream, so the probes run on
    /// <see cref="Data"/>'s own held-out videos (toy-av in memory, or a labelled source's test split) and pretraining
    /// starts from the demo's settings (<see cref="DemoOptions.PretrainDefaults"/>).</summary>
    public bool DemoProtocol => Downstream is null;

    public bool ToyAv => Synthetic.ToyAvClipDataset.IsSpec(Data, out _);

    /// <summary>The pretraining steps of every cell, or null where the config decides.</summary>
    public int? StepsPerCell => Steps ?? (ToyAv ? DefaultSteps : DemoProtocol ? DemoOptions.DefaultSteps : null);
    public string Preset { get; init; } = "small";
    public string? ConfigFile { get; init; }
    /// <summary>The user's --set (after the toy-av pretraining settings, before each row's own keys).</summary>
    public IReadOnlyList<string> Sets { get; init; } = [];
    public AblationProtocol Protocol { get; init; } = AblationProtocol.Probe;
    /// <summary>Downstream task of the finetune/eval protocols (the paper's ablations use Kinetics-Sounds: audiovisual).</summary>
    public DownstreamTask Task { get; init; } = DownstreamTask.Audiovisual;
    /// <summary>toy-av probes: labelled training videos (train split 0..n−1; pretraining takes the videos after them).</summary>
    public int ProbeTrainVideos { get; init; } = 240;
    /// <summary>toy-av probes: test videos.</summary>
    public int ProbeTestVideos { get; init; } = 240;
    public int FeatureBatchSize { get; init; } = 32;
    public LinearProbeOptions Probe { get; init; } = new();
    public Device? Device { get; init; }
    public int Workers { get; init; }
    public ProgressMode Progress { get; init; } = ProgressMode.Auto;
    public TextWriter? Log { get; init; }

    /// <summary>Pretraining steps of a toy-av cell: with 240 + 240 probe videos a cell takes about 2 minutes on 2 cores,
    /// so the 15 cells of `ablate sharing` (5 rows × 3 seeds) fit in half an hour (docs/demo-and-experiments.md, "Ablations").</summary>
    public const int DefaultSteps = 100;

    /// <summary>Checkpoint period of a cell's pretraining, so that an interrupted cell resumes close to where it stopped.</summary>
    public const int CheckpointEvery = 50;
}
