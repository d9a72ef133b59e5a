using AvBert.Config;
using AvBert.Runs;
using Spectre.Console;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert demo`: pretrain on toy-av (or `--data SPEC`), compare random-init and pretrained features with linear probes and retrieval.</summary>
public static class DemoCommand
{
    public static Command Build()
    {
        var config = new ConfigOptions();
        config.Preset.DefaultValueFactory = _ => "small";
        var device = new DeviceOption();
        var defaults = new DemoOptions();
        var outDir = new Option<string>("--out") { Description = "Output folder: summary.json, probes.png, loss.png, pretrain/", DefaultValueFactory = _ => defaults.OutDir };
        var seed = new Option<int>("--seed") { Description = "Seed of the data, the model init and pretraining", DefaultValueFactory = _ => 0 };
        var steps = new Option<int?>("--steps") { Description = $"Pretraining steps (default: the demo's {DemoOptions.DefaultSteps}; same as --set pretrain.steps=N)" };
        var classes = new Option<int>("--classes") { Description = $"toy-av event classes (2..{DemoOptions.MaxClasses})", DefaultValueFactory = _ => defaults.Data.NumClasses };
        var probeTrain = new Option<int>("--probe-train") { Description = "Labelled videos the linear probes train on", DefaultValueFactory = _ => defaults.ProbeTrainVideos };
        var probeTest = new Option<int>("--probe-test") { Description = "Test videos the probes are scored on", DefaultValueFactory = _ => defaults.ProbeTestVideos };
        var retrieval = new Option<int>("--retrieval") { Description = "Test videos in the audio→video retrieval gallery", DefaultValueFactory = _ => defaults.RetrievalVideos };
        var probeSteps = new Option<int>("--probe-steps") { Description = "Full-batch Adam steps of each linear probe", DefaultValueFactory = _ => defaults.Probe.Steps };
        var toy = new Option<string[]>("--toy") { Description = "Override a toy-av setting, e.g. --toy distractors=1 (repeatable; keys: " + string.Join(", ", DemoOptions.ToyKeys) + ")" };
        var data = new Option<string?>("--data")
        {
            Description = "Labelled data with a test split (or folds) to pretrain on (its training videos, unlabeled) and probe on " +
                          "(fit on its train split, score on its test split): real, classes:DIR with train/ and test/, toy-av:N, ... " +
                          "(default: toy-av, generated in memory)",
        };
        var workers = CommonOptions.Workers();
        var progress = CommonOptions.Progress();
        var noPrep = new Option<bool>("--no-prep")
        {
            Description = "With --data: read the source videos at every step instead of decoding them once into a prepared set " +
                          "(~/.cache/avbert/prepared/, kept for later runs)",
        };
        var c = new Command("demo", "Pretrain a CPU-sized model on the built-in toy-av data (or --data SPEC), then compare random-init and pretrained models " +
                                    "with linear probes on frozen features (visual, audio, audio-visual) and audio→video retrieval R@1. " +
                                    "Writes DIR/summary.json, DIR/probes.png, DIR/loss.png.");
        foreach (var o in new Option[] { outDir, data, seed, steps, classes, probeTrain, probeTest, retrieval, probeSteps, toy, workers, noPrep, progress }) c.Options.Add(o);
        config.AddTo(c);
        device.AddTo(c);
        c.SetAction((r, ct) =>
        {
            int s = r.GetValue(seed);
            // Demo defaults first, then --seed/--steps, then the user's --set (which win).
            var sets = DemoOptions.PretrainDefaults.Append($"pretrain.seed={s}")
                .Concat(r.GetValue(steps) is { } n ? [$"pretrain.steps={n}"] : [])
                .Concat(r.GetValue(config.Set) ?? []);
            var cfg = ConfigLoader.Load(r.GetValue(config.Preset), r.GetValue(config.File), sets);
            int k = r.GetValue(classes), nTrain = r.GetValue(probeTrain), nTest = r.GetValue(probeTest), nRet = r.GetValue(retrieval);
            var spec = r.GetValue(data);
            if (!DemoOptions.IsToyAv(spec) && new Option[] { classes, probeTrain, probeTest, toy }.FirstOrDefault(x => r.GetResult(x) is { Implicit: false }) is { } toyOnly)
                throw new Runtime.UserError($"demo --data {spec}: {toyOnly.Name} applies to the built-in toy-av only (the source's own splits decide the probe videos). Fix: drop {toyOnly.Name}.");
            if (k is < 2 or > DemoOptions.MaxClasses) throw new Runtime.UserError($"--classes {k}: toy-av has 2..{DemoOptions.MaxClasses} classes.");
            if (nTrain < k || nTest < 1) throw new Runtime.UserError($"--probe-train {nTrain} --probe-test {nTest}: need at least one training video per class and one test video.");
            if (nRet < 0) throw new Runtime.UserError($"--retrieval {nRet}: must be >= 0 (0 skips retrieval).");
            var options = defaults with
            {
                OutDir = r.GetValue(outDir)!, Source = spec, Workers = r.GetValue(workers), PrepareData = !r.GetValue(noPrep),
                Data = DemoOptions.WithToy(defaults.Data with { Seed = s, NumClasses = k }, r.GetValue(toy) ?? []),
                ProbeTrainVideos = nTrain, ProbeTestVideos = nTest, RetrievalVideos = nRet,
                Probe = defaults.Probe with { Steps = r.GetValue(probeSteps), Seed = s },
                Device = device.Resolve(r), Progress = r.GetValue(progress),
            };
            var summary = DemoRun.Run(cfg, options, ct);
            Print(summary, options.OutDir);
            return Task.FromResult(0);
        });
        return c;
    }

    static void Print(DemoSummary s, string dir)
    {
        var table = new Table().Title($"{s.Data} demo: {s.PretrainSteps} pretraining steps, {s.Seconds:0} s in all (chance {s.Chance:P1})")
            .AddColumn("linear probe").AddColumn(new TableColumn("random init").RightAligned());
        bool control = s.RandomInitRecalibrated is not null;
        if (control) table.AddColumn(new TableColumn("BN control").RightAligned());
        table.AddColumn(new TableColumn("pretrained").RightAligned()).AddColumn(new TableColumn("gain").RightAligned());
        void Row(string name, double a, double? c, double b)
        {
            var cells = new List<string> { name, $"{100 * a:0.0}%" };
            if (control) cells.Add(c is { } x ? $"{100 * x:0.0}%" : "");
            cells.Add($"{100 * b:0.0}%");
            cells.Add($"{100 * (b - a):+0.0;-0.0} pts");
            table.AddRow(cells.ToArray());
        }
        var (r, k, p) = (s.RandomInit, s.RandomInitRecalibrated, s.Pretrained);
        Row("visual", r.Visual, k?.Visual, p.Visual);
        Row("audio", r.Audio, k?.Audio, p.Audio);
        Row("audio-visual", r.AudioVisual, k?.AudioVisual, p.AudioVisual);
        var (rc, kc, pc) = (s.Cnn.RandomInit, s.Cnn.RandomInitRecalibrated, s.Cnn.Pretrained);
        Row("visual CNN", rc.Visual, kc?.Visual, pc.Visual);
        Row("audio CNN", rc.Audio, kc?.Audio, pc.Audio);
        Row("audio-visual CNNs", rc.AudioVisual, kc?.AudioVisual, pc.AudioVisual);
        Row($"A→V R@1 ({s.RetrievalVideos} videos)", r.RetrievalR1, k?.RetrievalR1, p.RetrievalR1);
        AnsiConsole.Write(table);
        Console.WriteLine("visual, audio, audio-visual: the Transformers' outputs (audio-visual: the multimodal Transformer); " +
                          "... CNN(s): the CNNs' pooled features. BN control: the random-init weights with BatchNorm statistics " +
                          $"re-measured on {s.Data}'s probe-training videos (no learning). A→V R@1: audio→video retrieval with the correct-pair head.");
        Console.WriteLine($"demo: wrote {Path.Combine(dir, DemoRun.SummaryFile)}, {Path.Combine(dir, "probes.png")}, {Path.Combine(dir, "loss.png")}");
    }
}
