using AvBert.Downstream.Probing;
using AvBert.Runtime;
using AvBert.Synthetic;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>Sizes of `avbert demo`. The model, data geometry and pretraining settings come from the config.</summary>
public sealed record DemoOptions
{
    /// <summary>Output folder: summary.json, probes.png, loss.png, pretrain/ (the pretraining run).</summary>
    public string OutDir { get; init; } = Path.Combine("runs", "demo");
    /// <summary>The data spec to pretrain and probe on (<see cref="DataSpec"/>): null or "toy-av", the built-in toy-av rendered in
    /// memory (<see cref="Data"/>, the probe sizes below); otherwise a labelled source with a test split or folds (real,
    /// classes:DIR with train/ and test/, toy-av:N files, ...), whose own splits decide the probe videos.</summary>
    public string? Source { get; init; }
    /// <summary>toy-av's generator settings (the toy-av demo only).</summary>
    public ToyAvOptions Data { get; init; } = new();
    /// <summary>Labelled videos the probes train on (toy-av train split, indices 0..n−1).</summary>
    public int ProbeTrainVideos { get; init; } = 480;
    /// <summary>Videos the probes and retrieval are scored on (toy-av test split).</summary>
    public int ProbeTestVideos { get; init; } = 480;
    /// <summary>Test videos in the retrieval gallery (the first n of the test set); each audio is matched against all n videos.</summary>
    public int RetrievalVideos { get; init; } = 100;
    /// <summary>Distinct unlabelled videos per pretraining epoch (toy-av train split, after the probe videos); every epoch draws new ones.</summary>
    public int PretrainVideosPerEpoch { get; init; } = 2000;
    public int FeatureBatchSize { get; init; } = 32;
    /// <summary>Decode threads of the data loader (0: one per core): pretraining, and feature extraction on a media source.</summary>
    public int Workers { get; init; }
    /// <summary>A media source is decoded once into a prepared set (`prep`'s, kept in ~/.cache/avbert/prepared/ for later
    /// runs) that pretraining and the probes read, instead of decoding every video at every step and for every model.</summary>
    public bool PrepareData { get; init; } = true;
    /// <summary>Also score the random-init model after recalibrating its BatchNorm statistics on toy-av (extra summary key).</summary>
    public bool CalibratedBaseline { get; init; } = true;
    public LinearProbeOptions Probe { get; init; } = new();
    public Device? Device { get; init; }
    public ProgressMode Progress { get; init; } = ProgressMode.Auto;
    public TextWriter? Log { get; init; }

    /// <summary>
    /// The pretraining settings the demo uses unless the user's --set says otherwise: a short run (<see cref="DefaultSteps"/> steps of 16 videos
    /// instead of 220K of 256) with a short warm-up and cosine decay, checkpoint only at the end, and four [ours] MEP
    /// choices that make MEP learn at this size (measured, docs/demo-and-experiments.md): cosine scores at temperature 0.05 and detached
    /// targets (with the paper's dot scores and live targets the CNN embeddings collapse to one vector or do not move in a
    /// few hundred steps), negatives uniform over the minibatch (CANS-Similar picks the masked clip's own siblings, which
    /// toy-av makes indistinguishable from it), and half of the 4 clips masked (2 anchors per sequence instead of 1).
    /// Three [ours] CPP choices without which CPP stays at chance here (docs/demo-and-experiments.md, "How CPP came to learn"): the head scores
    /// each clip position's pair (pooling clips), reads an unmasked pass of the Transformers, and sees each video with
    /// 15 other soundtracks of the batch besides its own draw (16 pairs per video instead of 1).
    /// </summary>
    public static readonly IReadOnlyList<string> PretrainDefaults =
    [
        "pretrain.batch_size=16", $"pretrain.steps={DefaultSteps}", "pretrain.lr=0.001", "pretrain.warmup_steps=40",
        "pretrain.schedule=cosine", "pretrain.checkpoint_every=0", "pretrain.log_every=10",
        "pretrain.mep_score=cosine", "pretrain.mep_temperature=0.05", "pretrain.detach_mep_targets=true",
        "pretrain.sampler=current_minibatch", "pretrain.mask_prob=0.5",
        "pretrain.cpp_pooling=clips", "pretrain.cpp_masked=false", "pretrain.cpp_extra_pairs=15",
    ];

    /// <summary>The most event classes toy-av has (--classes).</summary>
    public const int MaxClasses = ToyAvClasses.Max;

    /// <summary>The keys of the toy-av settings --toy KEY=VALUE overrides.</summary>
    public static IEnumerable<string> ToyKeys => ToyAvOptionsParser.Keys;

    /// <summary><paramref name="data"/> with the --toy KEY=VALUE overrides applied (and checked).</summary>
    public static ToyAvOptions WithToy(ToyAvOptions data, IEnumerable<string> toy) => ToyAvOptionsParser.Apply(data, toy);

    /// <summary>Whether <paramref name="source"/> (<see cref="Source"/>) names the built-in toy-av demo data.</summary>
    public static bool IsToyAv(string? source) => source is null or "toy-av";

    /// <summary>Pretraining steps of the demo.</summary>
    public const int DefaultSteps = 400;
}
