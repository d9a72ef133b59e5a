using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Storage;
using AvBert.Synthetic;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>The outcome of one cell (one row of a table, one seed): DIR/cells/TABLE/ROW/seed-S/result.json.</summary>
public sealed record AblationCellResult(
    [property: JsonPropertyName("table")] string Table,
    [property: JsonPropertyName("row")] string Row,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("metrics")] IReadOnlyDictionary<string, double> Metrics,
    [property: JsonPropertyName("transformer_parameters")] long TransformerParameters,
    [property: JsonPropertyName("total_parameters")] long TotalParameters,
    [property: JsonPropertyName("pretrain_steps")] long PretrainSteps,
    [property: JsonPropertyName("seconds")] double Seconds);

/// <summary>What `ablate` did: every cell's result (kept or run now) and how many it ran now.</summary>
public sealed record AblationSummary(IReadOnlyList<AblationTable> Tables, IReadOnlyList<AblationCellResult> Cells, int CellsRun, int CellsKept, double Seconds);

/// <summary>
/// `avbert ablate`: for every row of the chosen tables and every seed, pretrain (a normal pretraining run folder) and
/// evaluate downstream, then write the table (mean ± std over seeds) beside the paper's numbers.
/// <para>Resumable: a cell whose result.json exists is kept, not run again; an interrupted cell resumes its pretraining
/// from its latest checkpoint (Ctrl+C writes one) and redoes its evaluation. Every file is written atomically, so a
/// stop leaves no half-written result.</para>
/// </summary>
public static class AblationRun
{
    public const string ResultFile = "result.json";
    public const string SettingsFile = "ablation.json";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The folder of one cell.</summary>
    public static string CellDir(string outDir, AblationTable table, string row, int seed) =>
        Path.Combine(outDir, "cells", AblationTables.Name(table), row, $"seed-{seed}");

    /// <summary>
    /// The pretraining config of a cell: defaults ← preset ← (toy-av, or any source judged by the demo's protocol: the demo's
    /// pretraining settings, checkpoints every <see cref="AblationOptions.CheckpointEvery"/> steps) ← --config ← --steps ←
    /// --set ← the row's keys ← the seed.
    /// </summary>
    public static AvBertConfig CellConfig(AblationOptions o, AblationRow row, int seed)
    {
        var baseSets = o.ToyAv || o.DemoProtocol ? DemoOptions.PretrainDefaults.Append($"pretrain.checkpoint_every={AblationOptions.CheckpointEvery}").ToList() : [];
        var sets = (o.StepsPerCell is { } n ? [$"pretrain.steps={n}"] : new List<string>())
            .Concat(o.Sets).Concat(row.Sets).Append($"pretrain.seed={seed}");
        return ConfigLoader.Load(o.Preset, o.ConfigFile, sets, baseSets);
    }

    public static AblationSummary Run(IReadOnlyList<AblationTable> tables, AblationOptions o, CancellationToken ct = default)
    {
        var log = o.Log ?? Console.Out;
        var clock = Stopwatch.StartNew();
        bool toy = o.ToyAv;
        if (o.Seeds < 1) throw new UserError($"ablate: --seeds {o.Seeds}: need at least 1.");
        int classes = new ToyAvOptions().NumClasses;
        if (toy && (o.ProbeTrainVideos < classes || o.ProbeTestVideos < 1))
            throw new UserError($"ablate: --probe-train {o.ProbeTrainVideos} --probe-test {o.ProbeTestVideos}: the toy-av probes need at least one training video per class ({classes}) and one test video.");
        if (!toy && o.DemoProtocol && o.Protocol != AblationProtocol.Probe)
            throw new UserError($"ablate: --data {o.Data} --protocol {o.Protocol.ToString().ToLowerInvariant()} needs --downstream SRC, the labeled source each pretrained model is fine-tuned on " +
                                "(e.g. kinetics:CSV,... for the paper's Kinetics-Sounds). Fix: add --downstream, or --protocol probe (the demo's probes on the source's own test split).");
        // Every cell's config first: a bad --set or --config stops before any training.
        // Seed by seed (every row of a table for seed 0, then seed 1, ...): a run stopped early still has whole tables.
        var rows = AblationTables.Select(tables, o.Rows);
        var cells = tables.SelectMany(t => Enumerable.Range(0, o.Seeds).SelectMany(s => rows.Where(x => x.Table == t).Select(x => (Table: t, x.Row, Seed: s)))).ToList();
        foreach (var c in cells) CellConfig(o, c.Row, c.Seed);
        Directory.CreateDirectory(o.OutDir);
        CheckSettings(o);

        var results = new List<AblationCellResult>();
        int run = 0, kept = 0;
        double runSeconds = 0;
        for (int i = 0; i < cells.Count; i++)
        {
            var (table, row, seed) = cells[i];
            var dir = CellDir(o.OutDir, table, row.Key, seed);
            string where = $"cell {i + 1}/{cells.Count} {AblationTables.Name(table)}/{row.Key} seed {seed}";
            if (ReadResult(dir) is { } done)
            {
                log.WriteLine($"ablate: {where}: finished before, kept ({Path.Combine(dir, ResultFile)})");
                results.Add(done);
                kept++;
                continue;
            }
            int toRun = cells.Count - i;
            string eta = run == 0 ? "ETA after the first cell" : $"ETA {Duration(runSeconds / run * toRun)} for {(toRun == 1 ? "this last cell" : $"the {toRun} cells left")}";
            log.WriteLine($"ablate: {where} ({row.Label}): {eta}");
            var sw = Stopwatch.StartNew();
            var result = RunCell(table, row, seed, dir, o, log, ct);
            runSeconds += sw.Elapsed.TotalSeconds;
            run++;
            AtomicFile.WriteAllText(Path.Combine(dir, ResultFile), JsonSerializer.Serialize(result, Json) + "\n");
            results.Add(result);
            log.WriteLine($"ablate: {where}: " + string.Join(", ", result.Metrics.Select(kv => $"{kv.Key} {100 * kv.Value:0.0}%")) + $" ({sw.Elapsed.TotalSeconds:0} s)");
            AblationReport.Write(o, tables, results);
        }
        AblationReport.Write(o, tables, results);
        return new AblationSummary(tables, results, run, kept, clock.Elapsed.TotalSeconds);
    }

    static string Duration(double seconds) => seconds >= 3600 ? $"{seconds / 3600:0.0} h" : seconds >= 90 ? $"{seconds / 60:0} min" : $"{seconds:0} s";

    /// <summary>A cell's result.json, or null when the cell has not finished (or its file is unreadable: the cell runs again).</summary>
    public static AblationCellResult? ReadResult(string cellDir)
    {
        var path = Path.Combine(cellDir, ResultFile);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<AblationCellResult>(File.ReadAllText(path)); }
        catch (JsonException) { return null; }
    }

    /// <summary>
    /// DIR/ablation.json records the settings every cell shares; a rerun into the same DIR must use the same ones (the
    /// tables and the number of seeds may differ: more seeds or another table add cells), or the kept cells would not be
    /// comparable with the new ones.
    /// </summary>
    static void CheckSettings(AblationOptions o)
    {
        var settings = new SortedDictionary<string, string>
        {
            ["data"] = o.Data, ["downstream"] = o.Downstream ?? "", ["preset"] = o.Preset, ["config"] = o.ConfigFile ?? "",
            ["set"] = string.Join(" ", o.Sets), ["steps"] = o.Steps?.ToString() ?? "", ["protocol"] = o.Protocol.ToString().ToLowerInvariant(),
            ["task"] = o.Task.ToString().ToLowerInvariant(), ["probe_train"] = o.ProbeTrainVideos.ToString(),
            ["probe_test"] = o.ProbeTestVideos.ToString(), ["probe_steps"] = o.Probe.Steps.ToString(),
        };
        var path = Path.Combine(o.OutDir, SettingsFile);
        if (File.Exists(path))
        {
            SortedDictionary<string, string>? before = null;
            try { before = JsonSerializer.Deserialize<SortedDictionary<string, string>>(File.ReadAllText(path)); }
            catch (JsonException) { }
            if (before is not null)
            {
                var changed = settings.Where(kv => !before.TryGetValue(kv.Key, out var v) || v != kv.Value)
                    .Select(kv => $"{kv.Key} '{(before.TryGetValue(kv.Key, out var v) ? v : "")}' → '{kv.Value}'").ToList();
                if (changed.Count > 0)
                    throw new UserError($"ablate: {o.OutDir} holds cells made with other settings ({string.Join(", ", changed)}; see {path}). " +
                                        "Fix: the same options to continue it, or another --out.");
            }
        }
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(settings, Json) + "\n");
    }

    static AblationCellResult RunCell(AblationTable table, AblationRow row, int seed, string dir, AblationOptions o, TextWriter log, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var device = o.Device ?? CPU;
        bool toy = ToyAvClipDataset.IsSpec(o.Data, out var perEpoch);
        var pretrainDir = Path.Combine(dir, "pretrain");
        bool resume = new CheckpointStore(Path.Combine(pretrainDir, "checkpoints")).HasAny();
        var job = TrainingJob.Open(new TrainingJobOptions { Command = "pretrain", RunDir = pretrainDir, Resume = resume, LogSkipped = !toy, Retries = TrainingJobOptions.DefaultRetries },
                                   () => PretrainRun.PrepareRunDirectory(pretrainDir, () => CellConfig(o, row, seed), resume, data: o.Data));
        var config = job.Config;
        if (resume) log.WriteLine($"ablate: resuming the cell's pretraining from its latest checkpoint in {pretrainDir}");
        var toyData = toy ? new ToyAv(new ToyAvOptions { Seed = seed }, config.Data) : null;
        // A labelled source judged as the demo judges (no --downstream): its training split, prepared once (`prep`'s
        // prepared set), is what pretraining reads; its test split is what the probes score.
        var media = !toy && o.DemoProtocol
            ? MediaDemoData.Open(o.Data, config, new DemoOptions
              {
                  Source = o.Data, Workers = o.Workers, FeatureBatchSize = o.FeatureBatchSize, Probe = o.Probe with { Seed = seed }, Device = device, Log = log,
              }, device, log, ct)
            : null;
        var skipped = job.Skipped;
        // toy-av: the same unlabelled videos as the demo (the train split after the probe videos, new ones every epoch).
        IClipDataset dataset = toyData is not null
            ? new ToyAvClipDataset(toyData, ToyAvSplit.Train, perEpoch ?? ToyAvClipDataset.DefaultVideosPerEpoch, freshEachEpoch: true, firstIndex: o.ProbeTrainVideos)
            : media?.PretrainData(skipped) ?? DataSpec.OpenClips(o.Data, config, skipped);
        var pre = job.Run((again, onStep) => PretrainRun.Run(config, dataset, new PretrainRunOptions
        {
            RunDir = pretrainDir, Resume = again, Device = device, Workers = o.Workers, Progress = o.Progress, Log = log, Cancellation = ct, OnStep = onStep,
        }, skipped));

        var metrics = new Dictionary<string, double>();
        ParameterBreakdown counts;
        var (_, model) = ModelDirectory.Load(pre.ModelDir, device);
        using (model)
        {
            counts = ParameterCounts.Of(model);
            if (o.Protocol != AblationProtocol.Finetune && toyData is not null && o.Downstream is null)
            {
                var p = ToyAvProbes.Score(model, toyData, o.ProbeTrainVideos, o.ProbeTestVideos, o.Probe with { Seed = seed }, o.FeatureBatchSize, device, ct);
                AddProbes(metrics, p.AudioVisual, p.Visual, p.Audio, p.Cnn.AudioVisual, p.Cnn.Visual, p.Cnn.Audio);
            }
            if (media is not null)
            {
                using var heads = PretrainRun.LoadHeads(config, pretrainDir, device);
                var (s, c) = media.Score(model, heads, ct);
                AddProbes(metrics, s.AudioVisual, s.Visual, s.Audio, c.AudioVisual, c.Visual, c.Audio);
                if (heads?.CppHead is not null) metrics["a2v_r1"] = s.RetrievalR1;
            }
        }
        if (o.Protocol != AblationProtocol.Finetune && !o.DemoProtocol)
            Transfer(TransferProtocol.Linear, "linear", dir, pre.ModelDir, o, device, log, ct, metrics);
        if (o.Protocol != AblationProtocol.Probe)
            Transfer(TransferProtocol.Finetune, "finetune", dir, pre.ModelDir, o, device, log, ct, metrics);
        return new AblationCellResult(AblationTables.Name(table), row.Key, seed, metrics, counts.Transformer, counts.Total, pre.Steps, sw.Elapsed.TotalSeconds);
    }

    /// <summary>The demo's probe accuracies under the metric names of the tables (<see cref="AblationReport.Columns"/>).</summary>
    static void AddProbes(Dictionary<string, double> metrics, double av, double visual, double audio, double avCnn, double visualCnn, double audioCnn)
    {
        metrics["av_probe"] = av;
        metrics["visual_probe"] = visual;
        metrics["audio_probe"] = audio;
        metrics["av_cnn_probe"] = avCnn;
        metrics["visual_cnn_probe"] = visualCnn;
        metrics["audio_cnn_probe"] = audioCnn;
    }

    /// <summary>The downstream task (`finetune --init PRETRAINED --protocol P`) in CELL/NAME; its top-1/top-5 (the mean over
    /// folds where the source cross-validates) go into <paramref name="metrics"/> as NAME_top1, NAME_top5.</summary>
    static void Transfer(TransferProtocol protocol, string name, string cellDir, string modelDir, AblationOptions o, Device device, TextWriter log,
                         CancellationToken ct, Dictionary<string, double> metrics)
    {
        var data = o.Downstream ?? "toy-av";
        var runDir = Path.Combine(cellDir, name);
        bool resume = new[] { runDir }.Concat(Directory.Exists(runDir) ? Directory.EnumerateDirectories(runDir, "fold-*") : [])
            .Any(d => new CheckpointStore(Path.Combine(d, "checkpoints")).HasAny());
        if (!resume && Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true); // started, nothing saved: start again
        var job = TrainingJob.Open(new TrainingJobOptions { Command = "finetune", RunDir = runDir, Resume = resume, Retries = TrainingJobOptions.DefaultRetries },
            () => FinetuneRun.PrepareRunDirectory(runDir, () => FinetuneRun.UserConfig(o.Preset, o.ConfigFile, o.Sets, randomInit: false, o.Task, protocol),
                                                  modelDir, resume, o.Sets, data));
        var summary = job.Run((again, onStep) => FinetuneRun.Run(job.Config, new FinetuneOptions
        {
            RunDir = runDir, Data = data, Init = modelDir, Resume = again, Device = device, Workers = o.Workers, Progress = o.Progress,
            Log = log, Cancellation = ct, OnStep = onStep,
        }, job.Skipped));
        var report = summary.Runs.Select(r => r.Report).LastOrDefault(r => r is not null)
            ?? throw new UserError($"ablate: --downstream {data}: the {name} run tested nothing (no held-out videos). Fix: a source with a test split.");
        metrics[$"{name}_top1"] = summary.FoldMean?.GetValueOrDefault("top1", report.Top1) ?? report.Top1;
        metrics[$"{name}_top5"] = summary.FoldMean?.GetValueOrDefault("top5", report.Top5) ?? report.Top5;
    }
}
