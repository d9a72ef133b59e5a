using System.Text.Json.Serialization;
using AvBert.Downstream.Probing;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>
/// `avbert probe`: where the features come from — an `extract` folder (<see cref="Features"/>), or a model and a labelled
/// source (<see cref="Model"/> + <see cref="Data"/>, extracted in memory) — and how they are judged.
/// </summary>
public sealed record ProbeOptions
{
    /// <summary>The output of `avbert extract --data SRC` (DIR/index.tsv with labels, the per-video .safetensors).</summary>
    public string? Features { get; init; }
    /// <summary>A model (run folder, model directory, converted checkpoint): extracts from <see cref="Data"/> itself, and — a
    /// pretrain run folder, whose checkpoints hold the correct-pair head — scores audio↔video retrieval through that head.</summary>
    public string? Model { get; init; }
    /// <summary>A labelled data spec (toy-av:N, classes:DIR, ucf101:ROOT, esc50:ROOT, csv:FILE, ...), with <see cref="Model"/>.</summary>
    public string? Data { get; init; }
    /// <summary>Where probe.json and probe.png go; default: the features folder.</summary>
    public string? OutDir { get; init; }
    /// <summary>Folds of the stratified k-fold, used when the source has no train/test split or folds of its own (or with <see cref="KFold"/>).</summary>
    public int Folds { get; init; } = 5;
    /// <summary>How many times the k-fold is repeated (seeds Seed, Seed+1, …); mean ± std are over every fold of every repeat.</summary>
    public int Repeats { get; init; } = 1;
    /// <summary>Seed of the k-fold assignment (the linear probe has its own, <see cref="LinearProbeOptions.Seed"/>).</summary>
    public int Seed { get; init; }
    /// <summary>Stratified k-fold over every video even when the source has splits of its own.</summary>
    public bool KFold { get; init; }
    /// <summary>The classifiers: the logistic-regression probe (the demo's) and kNN with these k.</summary>
    public ClassifierOptions Classifiers { get; init; } = new();
    /// <summary>At most this many test videos in the correct-pair retrieval gallery (N² pairs through the Transformers).</summary>
    public int CppVideos { get; init; } = 200;
    /// <summary>Videos per forward pass when extracting (with <see cref="Model"/> + <see cref="Data"/>).</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Decode threads when extracting (0: one per core).</summary>
    public int Workers { get; init; }
    [JsonIgnore] public Device? Device { get; init; }
    [JsonIgnore] public TextWriter? Log { get; init; }

    /// <summary>These options with kNN at <paramref name="ks"/> and the logistic-regression probe trained for
    /// <paramref name="linearSteps"/> steps from <paramref name="seed"/> (null: no logistic-regression probe).</summary>
    public ProbeOptions WithClassifiers(IReadOnlyList<int> ks, int? linearSteps, int seed) => this with
    {
        Classifiers = Classifiers with
        {
            Ks = ks,
            Linear = linearSteps is { } steps ? (Classifiers.Linear ?? new LinearProbeOptions()) with { Steps = steps, Seed = seed } : null,
        },
    };
}
