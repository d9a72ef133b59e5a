using System.Diagnostics;
using System.Text.Json;
using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream.Probing;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Storage;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>
/// `avbert demo`: pretrain on a data set's training videos (unlabelled), then compare the random-init, the
/// BatchNorm-recalibrated and the pretrained model with linear probes on frozen features (visual-only, audio-only,
/// audio-visual; Transformer outputs and pooled CNN features) and audio→video retrieval among test videos. The data is
/// the built-in toy-av (<see cref="ToyAvDemoData"/>, the default) or any labelled source with a test split or folds
/// (<see cref="MediaDemoData"/>, <c>--data SPEC</c>); the protocol is this one.
/// <para>The random-init model is the pretraining run's own starting point (same seed, same weights), so the comparison
/// isolates what pretraining learned.</para>
/// </summary>
public static class DemoRun
{
    public const string SummaryFile = "summary.json";

    public static DemoSummary Run(AvBertConfig config, DemoOptions o, CancellationToken ct = default)
    {
        var log = o.Log ?? Console.Out;
        var clock = Stopwatch.StartNew();
        double cpuStart = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        var device = o.Device ?? CPU;
        IDemoData data = DemoOptions.IsToyAv(o.Source) ? new ToyAvDemoData(config, o, device) : MediaDemoData.Open(o.Source!, config, o, device, log, ct);
        Directory.CreateDirectory(o.OutDir);
        var runDir = Path.Combine(o.OutDir, "pretrain");
        if (Directory.Exists(runDir))
        {
            log.WriteLine($"demo: replacing the previous demo run in {runDir}");
            Directory.Delete(runDir, recursive: true);
        }
        int seed = config.Pretrain.Seed;
        log.WriteLine($"demo: {data.Description}; seed {seed}; {get_num_threads()} CPU threads");

        // 1. The random-init model: exactly the weights pretraining starts from (PretrainRun seeds, then builds the model).
        Seeding.Seed(seed);
        using var initModel = new AvBertModel(config.Model);
        initModel.to(device);
        var random = Evaluate("random init", initModel, RandomHeads(config), data, log, ct);
        Evaluation? calibrated = null;
        if (o.CalibratedBaseline)
        {
            // A fairer control: the same random weights with BatchNorm statistics measured on the probe-training videos (what
            // pretraining also updates, without learning anything). Gains over this baseline are learned features, not recalibration.
            data.CalibrateBatchNorm(initModel, ct);
            calibrated = Evaluate("random init, BN recalibrated", initModel, random.Heads, data, log, ct);
        }

        // 2. Pretrain on the data's unlabelled training videos.
        var job = TrainingJob.Open(new TrainingJobOptions { Command = "pretrain", RunDir = runDir, SkippedConsole = log, Retries = TrainingJobOptions.DefaultRetries, Errors = log },
                                   () => PretrainRun.PrepareRunDirectory(runDir, () => config, resume: false, data: o.Source));
        var dataset = data.PretrainData(job.Skipped);
        var pre = job.Run((resume, onStep) => PretrainRun.Run(config, dataset, new PretrainRunOptions
        {
            RunDir = runDir, Resume = resume, Device = device, Workers = o.Workers, Progress = o.Progress, Log = log, Cancellation = ct, OnStep = onStep,
        }, job.Skipped));
        var lossPng = Path.Combine(runDir, "loss.png");
        if (File.Exists(lossPng)) AtomicFile.WriteVia(Path.Combine(o.OutDir, "loss.png"), tmp => File.Copy(lossPng, tmp, overwrite: true));

        // 3. The pretrained model (with its heads, for retrieval).
        var (_, trained) = ModelDirectory.Load(pre.ModelDir, device);
        using var trainedModel = trained;
        var heads = PretrainRun.LoadHeads(config, runDir, device);
        var pretrained = Evaluate("pretrained", trainedModel, heads, data, log, ct);
        heads?.Dispose();
        random.Heads?.Dispose();

        int n = data.RetrievalVideos;
        var summary = new DemoSummary(clock.Elapsed.TotalSeconds, 1.0 / data.Classes, random.Scores, pretrained.Scores, n > 0 ? 1.0 / n : 0,
                                      seed, pre.Steps, pre.Seconds, data.ProbeTrainVideos, data.ProbeTestVideos, n, data.Classes, get_num_threads(),
                                      Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - cpuStart, calibrated?.Scores,
                                      new DemoCnnComparison(random.Cnn, pretrained.Cnn, calibrated?.Cnn), data.Spec, data.Protocol);
        AvBert.Storage.AtomicFile.WriteAllText(Path.Combine(o.OutDir, SummaryFile), JsonSerializer.Serialize(summary, DemoSummary.Json));
        var series = new List<(string, double[])> { ("random init", Values(random.Scores, random.Cnn)) };
        if (calibrated is not null) series.Add(("random init, BN recalibrated", Values(calibrated.Scores, calibrated.Cnn)));
        series.Add(("pretrained", Values(pretrained.Scores, pretrained.Cnn)));
        ProbePlots.SaveBars(Path.Combine(o.OutDir, "probes.png"), $"{data.Spec}: linear probes on frozen features and audio→video R@1 ({pre.Steps} pretraining steps)",
            ["visual", "audio", "audio-visual", "retrieval R@1", "visual (CNN)", "audio (CNN)", "audio-visual (CNN)"], series, summary.Chance);
        return summary;
    }

    static double[] Values(DemoScores s, DemoCnnScores c) => [s.Visual, s.Audio, s.AudioVisual, s.RetrievalR1, c.Visual, c.Audio, c.AudioVisual];

    sealed record Evaluation(DemoScores Scores, DemoCnnScores Cnn, AvBertPretrainer? Heads);

    static Evaluation Evaluate(string name, AvBertModel model, AvBertPretrainer? heads, IDemoData data, TextWriter log, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var (s, c) = data.Score(model, heads, ct);
        log.WriteLine($"demo: {name}: visual {s.Visual:P1}, audio {s.Audio:P1}, audio-visual {s.AudioVisual:P1}, retrieval R@1 {s.RetrievalR1:P1}; " +
                      $"CNN features: visual {c.Visual:P1}, audio {c.Audio:P1}, audio-visual {c.AudioVisual:P1} ({sw.Elapsed.TotalSeconds:0} s, " +
                      $"cpu {Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds:0} s so far)");
        return new Evaluation(s, c, heads);
    }

    /// <summary>The pretraining heads as they are before training (same seed and order as <see cref="PretrainRun"/>).</summary>
    static AvBertPretrainer? RandomHeads(AvBertConfig config)
    {
        if (config.Pretrain.CppFraction <= 0) return null;
        Seeding.Seed(config.Pretrain.Seed);
        var model = new AvBertModel(config.Model);
        return new AvBertPretrainer(model, config.Model, PretrainObjectiveOptions.From(config.Pretrain));
    }
}
