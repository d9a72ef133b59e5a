using System.Diagnostics;
using System.Text.Json;
using AvBert.Config;
using AvBert.Downstream.Probing;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Synthetic;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>
/// `avbert demo`: pretrain on toy-av, then compare the random-init and the pretrained model with linear probes on frozen
/// features (visual-only, audio-only, audio-visual) and audio→video retrieval among test videos.
/// <para>The random-init model is the pretraining run's own starting point (same seed, same weights), so the comparison
/// isolates what pretraining learned.</para>
/// </summary>
public static class ToyAvDemo
{
    public const string SummaryFile = "summary.json";

    public static DemoSummary Run(AvBertConfig config, DemoOptions o, CancellationToken ct = default)
    {
        var log = o.Log ?? Console.Out;
        var clock = Stopwatch.StartNew();
        double cpuStart = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        var device = o.Device ?? CPU;
        var toy = new ToyAv(o.Data, config.Data);
        Directory.CreateDirectory(o.OutDir);
        var runDir = Path.Combine(o.OutDir, "pretrain");
        if (Directory.Exists(runDir))
        {
            log.WriteLine($"demo: replacing the previous demo run in {runDir}");
            Directory.Delete(runDir, recursive: true);
        }
        int seed = config.Pretrain.Seed;
        log.WriteLine($"demo: toy-av with {toy.Classes.Count} classes, {toy.Clips} clips of {toy.ClipSeconds:0.###} s per video; " +
                      $"probes on {o.ProbeTrainVideos} train / {o.ProbeTestVideos} test videos; seed {seed}; {get_num_threads()} CPU threads");

        // 1. The random-init model: exactly the weights pretraining starts from (PretrainRun seeds, then builds the model).
        Seeding.Seed(seed);
        using var initModel = new AvBertModel(config.Model);
        initModel.to(device);
        var random = Evaluate("random init", initModel, RandomHeads(config), toy, o, device, log, ct);
        Evaluation? calibrated = null;
        if (o.CalibratedBaseline)
        {
            // A fairer control: the same random weights with BatchNorm statistics measured on toy-av (what pretraining also
            // updates, without learning anything). Gains over this baseline are learned features, not recalibration.
            ToyAvProbes.CalibrateBatchNorm(initModel, toy, o.ProbeTrainVideos, device, ct);
            calibrated = Evaluate("random init, BN recalibrated", initModel, random.Heads, toy, o, device, log, ct);
        }

        // 2. Pretrain on fresh unlabelled toy-av videos (after the probe videos in the train split).
        PrepareRun(runDir, config);
        var pretrainData = new ToyAvClipDataset(toy, ToyAvSplit.Train, o.PretrainVideosPerEpoch, freshEachEpoch: true, firstIndex: o.ProbeTrainVideos);
        var pre = PretrainRun.Run(config, pretrainData, new PretrainRunOptions
        {
            RunDir = runDir, Device = device, Progress = o.Progress, Log = log, Cancellation = ct,
        });
        var lossPng = Path.Combine(runDir, "loss.png");
        if (File.Exists(lossPng)) File.Copy(lossPng, Path.Combine(o.OutDir, "loss.png"), overwrite: true);

        // 3. The pretrained model (with its heads, for retrieval).
        var (_, trained) = ModelDirectory.Load(pre.ModelDir, device);
        using var trainedModel = trained;
        var heads = PretrainRun.LoadHeads(config, runDir, device);
        var pretrained = Evaluate("pretrained", trainedModel, heads, toy, o, device, log, ct);
        heads?.Dispose();
        random.Heads?.Dispose();

        int n = Math.Min(o.RetrievalVideos, o.ProbeTestVideos);
        var summary = new DemoSummary(clock.Elapsed.TotalSeconds, 1.0 / toy.Classes.Count, random.Scores, pretrained.Scores, n > 0 ? 1.0 / n : 0,
                                      seed, pre.Steps, pre.Seconds, o.ProbeTrainVideos, o.ProbeTestVideos, n, toy.Classes.Count, get_num_threads(),
                                      Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - cpuStart, calibrated?.Scores,
                                      new DemoCnnComparison(random.Cnn, pretrained.Cnn, calibrated?.Cnn));
        AvBert.IO.AtomicFile.WriteAllText(Path.Combine(o.OutDir, SummaryFile), JsonSerializer.Serialize(summary, DemoSummary.Json));
        var series = new List<(string, double[])> { ("random init", Values(random.Scores, random.Cnn)) };
        if (calibrated is not null) series.Add(("random init, BN recalibrated", Values(calibrated.Scores, calibrated.Cnn)));
        series.Add(("pretrained", Values(pretrained.Scores, pretrained.Cnn)));
        ProbePlots.SaveBars(Path.Combine(o.OutDir, "probes.png"), $"toy-av: linear probes on frozen features and audio→video R@1 ({pre.Steps} pretraining steps)",
            ["visual", "audio", "audio-visual", "retrieval R@1", "visual (CNN)", "audio (CNN)", "audio-visual (CNN)"], series, summary.Chance);
        return summary;
    }

    static double[] Values(DemoScores s, DemoCnnScores c) => [s.Visual, s.Audio, s.AudioVisual, s.RetrievalR1, c.Visual, c.Audio, c.AudioVisual];

    static void PrepareRun(string runDir, AvBertConfig config) => PretrainRun.PrepareRunDirectory(runDir, () => config, resume: false);

    sealed record Evaluation(DemoScores Scores, DemoCnnScores Cnn, AvBertPretrainer? Heads);

    static Evaluation Evaluate(string name, AvBertModel model, AvBertPretrainer? heads, ToyAv toy, DemoOptions o, Device device, TextWriter log, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var p = ToyAvProbes.Score(model, toy, o.ProbeTrainVideos, o.ProbeTestVideos, o.Probe, o.FeatureBatchSize, device, ct);
        var (v, a, av, vc, ac, avc) = (p.Visual, p.Audio, p.AudioVisual, p.Cnn.Visual, p.Cnn.Audio, p.Cnn.AudioVisual);
        double r1 = heads is null ? 0 : RetrievalR1(heads, model, toy, Math.Min(o.RetrievalVideos, o.ProbeTestVideos), o, device, ct);
        log.WriteLine($"demo: {name}: visual {v:P1}, audio {a:P1}, audio-visual {av:P1}, retrieval R@1 {r1:P1}; " +
                      $"CNN features: visual {vc:P1}, audio {ac:P1}, audio-visual {avc:P1} ({sw.Elapsed.TotalSeconds:0} s, " +
                      $"cpu {Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds:0} s so far)");
        return new Evaluation(new DemoScores(v, a, av, r1), new DemoCnnScores(vc, ac, avc), heads);
    }

    // ---- retrieval: the pretraining's correct-pair head scores every (audio, video) pair ----

    /// <summary>The pretraining heads as they are before training (same seed and order as <see cref="PretrainRun"/>).</summary>
    static AvBertPretrainer? RandomHeads(AvBertConfig config)
    {
        if (config.Pretrain.CppFraction <= 0) return null;
        Seeding.Seed(config.Pretrain.Seed);
        var model = new AvBertModel(config.Model);
        return new AvBertPretrainer(model, config.Model, PretrainObjectiveOptions.From(config.Pretrain));
    }

    /// <summary>
    /// Audio→video R@1 among the first <paramref name="n"/> test videos: each video's audio is paired with every video and
    /// scored by the correct-pair-prediction head (<see cref="CppRetrieval"/>); a query is right when its own video scores highest.
    /// </summary>
    static double RetrievalR1(AvBertPretrainer heads, AvBertModel model, ToyAv toy, int n, DemoOptions o, Device device, CancellationToken ct)
    {
        if (n < 2) return 0;
        var cpp = heads.CppHead ?? throw new InvalidOperationException("the pretrainer has no CPP head");
        cpp.to(device);
        model.eval();
        using var _ = no_grad();
        var xvs = new List<Tensor>();
        var xas = new List<Tensor>();
        foreach (var b in ToyAvStream.Range(toy, ToyAvSplit.Test, n, o.FeatureBatchSize))
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
