using System.Diagnostics;
using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream.Probing;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Synthetic;
using TorchSharp;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>What <see cref="DemoRun"/> pretrains and probes on: its unlabelled training videos, and the probes and
/// retrieval of one frozen model on its labelled videos.</summary>
public interface IDemoData
{
    /// <summary>The data spec, as summary.json records it.</summary>
    string Spec { get; }
    /// <summary>One line for the log: what the data is and how the probes divide it.</summary>
    string Description { get; }
    /// <summary>Which videos the probes train on and are scored on, in words.</summary>
    string Protocol { get; }
    int Classes { get; }
    int ProbeTrainVideos { get; }
    int ProbeTestVideos { get; }
    /// <summary>Test videos in the audio→video retrieval gallery.</summary>
    int RetrievalVideos { get; }
    /// <summary>The unlabelled pretraining videos.</summary>
    IClipDataset PretrainData(SkippedLog? skipped);
    /// <summary>Linear-probe accuracies of the frozen <paramref name="model"/> on each feature family, and audio→video R@1
    /// through <paramref name="heads"/>' correct-pair head (0 without one).</summary>
    (DemoScores Scores, DemoCnnScores Cnn) Score(AvBertModel model, AvBertPretrainer? heads, CancellationToken ct);
    /// <summary>The no-learning control: BatchNorm statistics re-measured on the probe-training videos.</summary>
    void CalibrateBatchNorm(AvBertModel model, CancellationToken ct);
}

/// <summary>
/// The built-in toy-av, rendered in memory: probes on the first <see cref="DemoOptions.ProbeTrainVideos"/> videos of the
/// train split and <see cref="DemoOptions.ProbeTestVideos"/> of the test split (<see cref="ToyAvProbes"/>); pretraining on
/// fresh train-split videos after the probe videos, new ones every epoch.
/// </summary>
public sealed class ToyAvDemoData(AvBertConfig config, DemoOptions o, Device device) : IDemoData
{
    readonly ToyAv _toy = new(o.Data, config.Data);

    public string Spec => "toy-av";
    public string Description => $"toy-av with {_toy.Classes.Count} classes, {_toy.Clips} clips of {_toy.ClipSeconds:0.###} s per video; " +
                                 $"probes on {o.ProbeTrainVideos} train / {o.ProbeTestVideos} test videos";
    public string Protocol => $"toy-av's train split (first {o.ProbeTrainVideos} videos) and test split (first {o.ProbeTestVideos})";
    public int Classes => _toy.Classes.Count;
    public int ProbeTrainVideos => o.ProbeTrainVideos;
    public int ProbeTestVideos => o.ProbeTestVideos;
    public int RetrievalVideos => Math.Min(o.RetrievalVideos, o.ProbeTestVideos);

    public IClipDataset PretrainData(SkippedLog? skipped) =>
        new ToyAvClipDataset(_toy, ToyAvSplit.Train, o.PretrainVideosPerEpoch, freshEachEpoch: true, firstIndex: o.ProbeTrainVideos);

    public (DemoScores, DemoCnnScores) Score(AvBertModel model, AvBertPretrainer? heads, CancellationToken ct)
    {
        var p = ToyAvProbes.Score(model, _toy, o.ProbeTrainVideos, o.ProbeTestVideos, o.Probe, o.FeatureBatchSize, device, ct);
        double r1 = heads is null ? 0 : RetrievalR1(heads, model, RetrievalVideos, ct);
        return (new DemoScores(p.Visual, p.Audio, p.AudioVisual, r1), p.Cnn);
    }

    public void CalibrateBatchNorm(AvBertModel model, CancellationToken ct) => ToyAvProbes.CalibrateBatchNorm(model, _toy, o.ProbeTrainVideos, device, ct);

    /// <summary>
    /// Audio→video R@1 among the first <paramref name="n"/> test videos: each video's audio is paired with every video and
    /// scored by the correct-pair-prediction head (<see cref="CppRetrieval"/>); a query is right when its own video scores highest.
    /// </summary>
    double RetrievalR1(AvBertPretrainer heads, AvBertModel model, int n, CancellationToken ct)
    {
        if (n < 2) return 0;
        var cpp = heads.CppHead ?? throw new InvalidOperationException("the pretrainer has no CPP head");
        cpp.to(device);
        model.eval();
        using var _ = no_grad();
        var xvs = new List<Tensor>();
        var xas = new List<Tensor>();
        foreach (var b in ToyAvStream.Range(_toy, ToyAvSplit.Test, n, o.FeatureBatchSize))
        {
            ct.ThrowIfCancellationRequested();
            xvs.Add(model.EncodeVisual(b.Visual.to(device)));
            xas.Add(model.EncodeAudio(b.Audio.to(device)));
        }
        using var xv = cat(xvs, 0);                                       // [n,T,D]
        using var xa = cat(xas, 0);
        foreach (var t in xvs.Concat(xas)) t.Dispose();
        using var scores = CppRetrieval.Scores(model, cpp, heads.CppPooling, xv, xa, ct);
        return Retrieval.RecallAt1(scores);
    }
}

/// <summary>
/// A labelled media source opened through <see cref="DataSpec"/> (<c>real</c>, <c>classes:DIR</c> with train/ and test/,
/// <c>toy-av:N</c>, a CSV with a split column, ESC-50's folds, ...): pretraining on its training split, unlabelled
/// (<see cref="DataSpec.OpenClips"/>); probes fitted on its train split and scored on its test split (else each of its
/// folds held out in turn, mean over folds), with every video decoded once per model as `probe --model --data` decodes it
/// (<see cref="ProbeRun.Extract"/>: test-time clip sampling, one centre crop, no augmentation) and scored by `probe`'s own
/// functions (<see cref="ProbeRun.Evaluate"/>: the logistic probe of <see cref="FeatureClassifiers"/>, audio→video retrieval
/// through the correct-pair head among the first test videos).
/// </summary>
public sealed class MediaDemoData : IDemoData
{
    readonly AvBertConfig _config;
    readonly DemoOptions _o;
    readonly Device _device;
    readonly MediaSource _source;
    /// <summary>The spec the videos are read through: a prepared set of <see cref="Spec"/> unless the demo reads the sources.</summary>
    readonly string _read;
    readonly SkippedLog _skipped;
    readonly MediaItem[] _train;
    readonly bool _split;

    MediaDemoData(string spec, string read, AvBertConfig config, DemoOptions o, Device device, MediaSource source, SkippedLog skipped)
    {
        (Spec, _read, _config, _o, _device, _source, _skipped) = (spec, read, config, o, device, source, skipped);
        _train = source.Items.Where(i => i.Split == "train").ToArray();
        int test = source.Items.Count(i => i.Split == "test");
        _split = _train.Length > 0 && test > 0;
        if (_split)
        {
            (ProbeTrainVideos, ProbeTestVideos) = (_train.Length, test);
            Protocol = $"the source's train/test split ({_train.Length} train, {test} test videos)";
        }
        else
        {
            // Each fold held out in turn; the BatchNorm control sees every video (its statistics use no labels).
            var folds = source.Items.Select(i => i.Fold).Distinct().Count();
            _train = [.. source.Items];
            (ProbeTrainVideos, ProbeTestVideos) = (source.Items.Count, source.Items.Count);
            Protocol = $"the source's {folds} folds, each held out in turn (mean over folds)";
        }
        RetrievalVideos = Math.Min(o.RetrievalVideos, ProbeTestVideos);
    }

    public string Spec { get; }
    public string Description => $"{Spec}: {Classes} classes, {_source.Items.Count} videos{(_read != Spec ? $" (read from {_read})" : "")}; probes on {Protocol}; " +
                                 "pretraining on its training videos, unlabelled";
    public string Protocol { get; }
    public int Classes => _source.ClassNames.Count;
    public int ProbeTrainVideos { get; }
    public int ProbeTestVideos { get; }
    public int RetrievalVideos { get; }

    /// <summary>Opens <paramref name="spec"/> with its splits (building a built-in set on first use) and checks that the demo can
    /// run on it before anything is trained: an audio-visual model, labels, a test split or folds. With
    /// <see cref="DemoOptions.PrepareData"/>, every video is decoded once into a prepared set (<see cref="DataSpec.Prepared"/>,
    /// kept for later runs) and pretraining and probes read that.</summary>
    public static MediaDemoData Open(string spec, AvBertConfig config, DemoOptions o, Device device, TextWriter log, CancellationToken ct = default)
    {
        const string fix = "Fix: use a labelled source with a test split, e.g. --data real, or classes:DIR with train/ and test/ subfolders";
        if (config.Model.Modalities != Modalities.AudioVisual)
            throw new UserError($"demo --data {spec}: model.modalities is {config.Model.Modalities}; the demo compares audio, visual and audio-visual features. Fix: drop that --set.");
        var skipped = new SkippedLog(null, log);
        var source = DataSpec.OpenWithSplits(spec, config.Data, labeled: true, skipped, log);
        if (!source.Labeled) throw new UserError($"demo --data {spec}: the source has no labels, so there is nothing to probe. {fix}.");
        if (source.AudioOnly) throw new UserError($"demo --data {spec}: audio files only; the audio-visual model needs video. {fix}.");
        if (source.Items.Count == 0) throw new UserError($"demo --data {spec}: no videos. {fix}.");
        bool split = source.Items.Any(i => i.Split == "train") && source.Items.Any(i => i.Split == "test");
        if (!split && source.Items.Select(i => i.Fold).Where(f => f is not null).Distinct().Count() < 2)
            throw new UserError($"demo --data {spec}: the source has no test split (and no folds): the probes need held-out videos. {fix}.");
        var read = spec;
        if (o.PrepareData)
        {
            read = DataSpec.Prepared(spec, config.Data, o.Workers, log, PrepProgressLines(spec, log), ct);
            if (read != spec) source = DataSpec.OpenWithSplits(read, config.Data, labeled: true, skipped, log);
        }
        return new MediaDemoData(spec, read, config, o, device, source, skipped);
    }

    /// <summary>A progress line for prep every 20 s and at the end: videos done, rate and ETA.</summary>
    static Action<PrepProgress> PrepProgressLines(string spec, TextWriter log)
    {
        double last = 0;
        return p =>
        {
            if (p.PreparedNow == 0 || (p.Seconds - last < 20 && p.Done < p.Total)) return;
            last = p.Seconds;
            log.WriteLine($"{spec}: preparing (decoding once): {p.Done}/{p.Total} videos, {p.Rate:0.0} videos/s" +
                          (p.Eta is { } eta && p.Done < p.Total ? $", ETA {eta:mm\\:ss}" : ""));
        };
    }

    public IClipDataset PretrainData(SkippedLog? skipped) => DataSpec.OpenClips(_read, _config, skipped);

    public (DemoScores, DemoCnnScores) Score(AvBertModel model, AvBertPretrainer? heads, CancellationToken ct)
    {
        var notes = new List<string>();
        using var f = ProbeRun.Extract(model, _config, _source, Spec, $"demo --data {Spec}", keepEmbeddings: heads?.CppHead is not null,
                                       _o.FeatureBatchSize, _o.Workers, _device, _skipped, notes, ct);
        var probe = new ProbeOptions
        {
            Data = Spec, Classifiers = new ClassifierOptions { Linear = _o.Probe, Ks = [] }, CppVideos = RetrievalVideos,
            Device = _device, Log = TextWriter.Null,
        };
        var s = ProbeRun.Evaluate(f, probe, model, heads, _device, 0, Stopwatch.StartNew(), ct);
        double Linear(FeatureRole role) => s.Families.Single(x => x.Name == f.Families[role]!.Name).Linear!.Mean;
        return (new DemoScores(Linear(FeatureRole.Visual), Linear(FeatureRole.Audio), Linear(FeatureRole.AudioVisual), s.CppRetrieval?.AudioToVideo.R1 ?? 0),
                new DemoCnnScores(Linear(FeatureRole.VisualCnn), Linear(FeatureRole.AudioCnn), Linear(FeatureRole.CnnAudioVisual)));
    }

    public void CalibrateBatchNorm(AvBertModel model, CancellationToken ct) =>
        FrozenFeatures.RecalibrateBatchNorm(model, ProbeRun.Batches(_source with { Items = _train }, _config.Data, _o.FeatureBatchSize, _o.Workers, _device, _skipped, ct)
            .Select(b => (b.Visual, b.Audio)), _device, ct);
}
