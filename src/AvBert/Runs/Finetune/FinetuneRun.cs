using System.Globalization;
using System.Text.Json;
using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Downstream.Evaluation;
using AvBert.Downstream.Metrics;
using AvBert.Distributed;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>How to run `finetune` (everything that is not in the config).</summary>
public sealed record FinetuneOptions : TrainingRunOptions
{
    /// <summary>Labeled data source spec (see SourceLoader).</summary>
    public required string Data { get; init; }
    /// <summary>Model directory or run folder to start from; null: random initialisation.</summary>
    public string? Init { get; init; }
    public string TrainSplit { get; init; } = "train";
    /// <summary>Held-out split evaluated during and after training; a source without it trains without a test.</summary>
    public string TestSplit { get; init; } = "test";
    /// <summary>"auto" (cross-validate the audio task when the items have folds and the spec names no fold), "all", "none" or a list like "1,3".</summary>
    public string Folds { get; init; } = "auto";
    /// <summary>Test on this seeded, stratified fraction of each class of the training split, held out from training.</summary>
    public double? ValFraction { get; init; }
    /// <summary>Test on this other labeled source (its <see cref="TestSplit"/>).</summary>
    public string? TestData { get; init; }
    /// <summary>No final test: train on every video of the training split.</summary>
    public bool NoTest { get; init; }
}

/// <summary>One trained model and its held-out result.</summary>
/// <param name="Name">"" for a single run, "fold-N" in cross-validation.</param>
/// <param name="Report">Null when there was no held-out split.</param>
public sealed record FinetuneResult(string Name, string RunDir, string ModelDir, EvaluationReport? Report, long Steps, double Seconds);

/// <summary>The end of `finetune`: one result, or one per fold with their mean.</summary>
public sealed record FinetuneSummary(IReadOnlyList<FinetuneResult> Runs, IReadOnlyDictionary<string, double>? FoldMean, int SkippedFiles)
{
    /// <summary>Sample standard deviation over the folds of each metric in <see cref="FoldMean"/>.</summary>
    public IReadOnlyDictionary<string, double>? FoldStd { get; init; }
}

/// <summary>
/// `avbert finetune` as a library call (SPEC §8): builds the backbone (random, or from --init), the task's heads, the
/// task's training samples and test views, Adam with a backbone group and a head group, the schedule, and drives the
/// shared <see cref="Trainer"/> (checkpoints every epoch, exact resume, metrics, progress, loss curve). Evaluates the
/// held-out split every downstream.eval_every epochs and at the end (metrics.json, confusion.png, per_class.tsv), and
/// saves RUN/model for `eval`, `predict` and `extract`. With folds, runs one such training per held-out fold
/// (RUN/fold-N/) and writes each fold's result and the mean to RUN/crossval.json.
/// </summary>
public static class FinetuneRun
{
    public const string ConfigFile = RunFolder.ConfigFile;

    /// <summary>
    /// The config of a run. New run: <paramref name="userConfig"/> (defaults ← preset ← file ← --set), with the model and
    /// data sections taken from <paramref name="init"/>'s config.yaml (plus <paramref name="overrides"/>) when given, since
    /// the architecture must fit the weights. --resume: RUN/config.yaml with <paramref name="overrides"/> on top.
    /// </summary>
    public static AvBertConfig PrepareRunDirectory(string runDir, Func<AvBertConfig> userConfig, string? init, bool resume,
                                                   IEnumerable<string>? overrides = null, string? data = null, bool allowDataChange = false)
    {
        bool HasCheckpoint() =>
            new[] { runDir }.Concat(Directory.Exists(runDir) ? Directory.EnumerateDirectories(runDir, "fold-*") : [])
                .Any(d => new CheckpointStore(Path.Combine(d, "checkpoints")).HasAny() ||
                          File.Exists(Path.Combine(d, TransferModelDirectory.ModelSubdirectory, TransferModelDirectory.HeadFile)));
        return RunFolder.Prepare(runDir, resume, new RunFolderOptions
        {
            Command = "finetune",
            HoldsRun = () => File.Exists(Path.Combine(runDir, ConfigFile)) &&
                             (Directory.Exists(Path.Combine(runDir, "checkpoints")) || Directory.EnumerateDirectories(runDir, "fold-*").Any()),
            HasCheckpoint = HasCheckpoint,
            // The task's protocol decides which weights train (the optimiser's groups), so it stays too.
            FixedKeys = ["model.", "downstream.task", "downstream.seed", "downstream.class_names",
                         .. Enum.GetValues<DownstreamTask>().SelectMany(t => new[] { $"downstream.{Lower(t)}.batch_size", $"downstream.{Lower(t)}.protocol" })],
            Data = data, AllowDataChange = allowDataChange,
        }, () => FreshConfig(userConfig, init, overrides), overrides);
    }

    /// <summary>
    /// What a run from random initialisation gets unless the user's --config or --set says otherwise: BatchNorm statistics
    /// that follow a short run (momentum 0.3, not 0.1: after tens of steps the running statistics would still be near their
    /// initial values when the test starts), the audio task fine-tuned rather than linearly probed (a linear head on a
    /// random CNN is near chance), and learning rates for training a backbone from scratch rather than adjusting a
    /// pretrained one (backbone 1e-3, not 1e-4; head 1e-2 for the audio, audiovisual and multilabel tasks).
    /// </summary>
    public static readonly IReadOnlyList<string> FromScratchSettings =
    [
        "model.visual.bn_momentum=0.3", "model.audio.bn_momentum=0.3", "downstream.audio.protocol=finetune",
        "downstream.visual.backbone_lr=1e-3", "downstream.audio.backbone_lr=1e-3", "downstream.audiovisual.backbone_lr=1e-3",
        "downstream.multilabel.backbone_lr=1e-3", "downstream.audio.head_lr=1e-2", "downstream.audiovisual.head_lr=1e-2",
        "downstream.multilabel.head_lr=1e-2",
    ];

    /// <summary>The config of a new run as the user asked for it: defaults ← preset ← (random init:
    /// <see cref="FromScratchSettings"/>) ← file ← --set ← <paramref name="task"/> ← <paramref name="protocol"/> (the task's).</summary>
    public static AvBertConfig UserConfig(string? preset, string? file, IReadOnlyList<string> sets, bool randomInit,
                                          DownstreamTask? task = null, TransferProtocol? protocol = null)
    {
        var cfg = ConfigLoader.Load(preset, file, sets, randomInit ? FromScratchSettings : null);
        if (task is null && protocol is null) return cfg;
        var d = cfg.Downstream;
        if (task is { } t) d = d with { Task = t };
        if (protocol is { } p) d = d.With(d.Task, d.Current with { Protocol = p });
        cfg = cfg with { Downstream = d };
        ConfigValidator.Validate(cfg, "config with" + (task is { } t2 ? $" --task {Lower(t2)}" : "") + (protocol is { } p2 ? $" --protocol {Lower(p2)}" : ""));
        return cfg;
    }

    /// <summary>The one line that says a random-init run got <see cref="FromScratchSettings"/> (with the values in effect).</summary>
    public static string FromScratchLine(AvBertConfig config)
    {
        var d = config.Downstream;
        var t = d.Current;
        var inv = CultureInfo.InvariantCulture;
        return $"random init: from-scratch settings — BatchNorm momentum {config.Model.Visual.BnMomentum.ToString(inv)}/{config.Model.Audio.BnMomentum.ToString(inv)} " +
               $"(visual/audio), {Lower(d.Task)} protocol {Lower(t.Protocol)}, lr head {t.HeadLr.ToString(inv)} / backbone {t.BackboneLr.ToString(inv)}; " +
               $"--set (e.g. downstream.{Lower(d.Task)}.head_lr=...) or --protocol overrides them, --init MODEL runs the paper's protocol.";
    }

    static AvBertConfig FreshConfig(Func<AvBertConfig> userConfig, string? init, IEnumerable<string>? overrides)
    {
        var cfg = userConfig();
        if (init is not null)
        {
            var initDir = TransferModelDirectory.Resolve(init, "--init");
            var initCfg = ConfigLoader.LoadFile(Path.Combine(initDir, ModelDirectory.ConfigFile), overrides);
            cfg = cfg with { Model = initCfg.Model, Data = initCfg.Data };
            ConfigValidator.Validate(cfg, $"--init {init} with the downstream settings");
        }
        return cfg with { Downstream = cfg.Downstream with { ClassNames = [] } };
    }

    /// <param name="skipped">The run's skipped-file log (<see cref="TrainingJob.Skipped"/>); null: RUN/skipped.tsv, continued on resume.</param>
    public static FinetuneSummary Run(AvBertConfig config, FinetuneOptions o, SkippedLog? skipped = null)
    {
        var log = o.Log ?? Console.Out;
        var d = config.Downstream;
        skipped ??= new SkippedLog(o.RunDir, resume: o.Resume);
        var folds = CrossValidation.Choose(config, o, skipped);
        var runs = new List<FinetuneResult>();
        if (folds is null)
        {
            var source = DataSpec.OpenLabeled(o.Data, o.TrainSplit, config.Data, skipped, log);
            TaskData.CheckLabels(source, d.Task, "--data");
            var split = FinetuneSplit.Choose(source, o, config.Data, d.Task, d.Seed, skipped);
            if (split.Line is not null) log.WriteLine(split.Line);
            split.Write(o.RunDir);
            runs.Add(TrainOne(config, split.Train, split.Test, o, o.RunDir, "", skipped, log));
        }
        else
        {
            log.WriteLine($"cross-validation over {folds.Description}: one model per held-out {folds.Kind}, in {Path.Combine(o.RunDir, "fold-N")}.");
            foreach (var f in folds.Folds)
            {
                var name = $"fold-{f}";
                var (train, test) = folds.Split(f);
                var foldDir = Path.Combine(o.RunDir, name);
                Directory.CreateDirectory(foldDir);
                if (DataParallel.IsRoot) ConfigLoader.Save(config, Path.Combine(foldDir, ConfigFile)); // [data parallel] rank 0 writes
                runs.Add(TrainOne(config, train, test, o, foldDir, name, skipped, log));
                CrossValidation.Write(o.RunDir, runs);
            }
        }
        var stats = folds is null ? null : CrossValidation.Write(o.RunDir, runs);
        if (stats is not null)
            log.WriteLine($"cross-validation, mean ± std over {stats.Count} {folds!.Kind}s: " + string.Join("  ", stats.Mean.Select(kv =>
                $"{kv.Key} {kv.Value.ToString("0.0000", CultureInfo.InvariantCulture)} ± {stats.Std[kv.Key].ToString("0.0000", CultureInfo.InvariantCulture)}")) +
                $" → {Path.Combine(o.RunDir, TransferModelDirectory.CrossValidationFile)}");
        if (skipped.Count > 0) log.WriteLine(skipped.Summary());
        return new FinetuneSummary(runs, stats?.Mean, skipped.Count) { FoldStd = stats?.Std };
    }

    /// <summary>Trains one model on <paramref name="train"/> and evaluates it on <paramref name="test"/>.</summary>
    static FinetuneResult TrainOne(AvBertConfig config, MediaSource train, MediaSource? test, FinetuneOptions o, string runDir, string name,
                                   SkippedLog skipped, TextWriter log)
    {
        var device = o.Device ?? CPU;
        var precision = MixedPrecision.For(config, device, log);
        string prefix = name.Length > 0 ? name + ": " : "";
        var modelDir = Path.Combine(runDir, TransferModelDirectory.ModelSubdirectory);

        // 1. The classes are the training split's; the config saved with the model lists them.
        config = WithTrainingClasses(config, train, o);
        var d = config.Downstream;

        // 2. A finished fold of a resumed cross-validation is not trained again.
        if (o.Resume && name.Length > 0 && IsFinished(runDir))
            return KeepFinished(config, test, o, runDir, name, precision, skipped, log);

        // 3. The task: the backbone (random, or --init) with the task's heads and loss, on the device; its optimiser.
        using var model = BuildModel(config, o.Init, device);
        var task = ClassificationTask.For(model, d, device);
        using var optimizer = task.CreateOptimizer(d);

        // 4. The training batches (this rank's slice of each), the epochs in steps, the schedule; the held-out split.
        var plan = TrainingPlan.For(train, config, o, skipped);
        var testSet = test is null ? null : TaskData.Remap(test, d.ClassNames);
        var heldOut = testSet is null ? null
            : new PeriodicTest(() => Evaluate(task, config, testSet, o, precision, skipped), plan.Steps, plan.StepsPerEpoch, d.EvalEvery, prefix);

        // 5. The trainer: a checkpoint every epoch, the held-out test every eval_every epochs and at the end.
        var trainer = CreateTrainer(model, optimizer, plan, d, o, name, precision, heldOut, runDir);
        Describe(config, train, testSet, plan, model.Frozen, o, prefix, device, precision, log);

        // 6. Train: each micro-step is the task's forward (loss, train_top1).
        DeviceMemory.ResetPeak(device);
        var result = trainer.Run(plan.Batches, batch => TrainingStep(task.Forward(batch)), o.Resume, o.OnStep, o.Cancellation);
        if (result.Seconds > 0)
            log.WriteLine($"{prefix}trained {result.Step} steps in {result.Seconds:0.0} s ({result.ItemsPerSecond:0.0} {ItemName(d)}/s; " +
                          $"{plan.Loader.Stats.ConsumerWait.TotalSeconds:0.0} s of it waiting for decoded data)" +
                          (device.type == DeviceType.CUDA ? $"; peak GPU memory {DeviceMemory.Describe(device)}" : ""));

        // 7. The final test (unless the last step ran it); rank 0 writes the model, the config, the curves and the report.
        var report = testSet is null ? null : heldOut!.Final ?? Evaluate(task, config, testSet, o, precision, skipped);
        if (DataParallel.IsRoot) WriteResults(config, model, report, runDir, modelDir, prefix, log); // [data parallel] rank 0 writes
        return new FinetuneResult(name, runDir, modelDir, report, result.Step, result.Seconds);
    }

    /// <summary><paramref name="config"/> with the training split's classes, after checking that the split fits the task.</summary>
    static AvBertConfig WithTrainingClasses(AvBertConfig config, MediaSource train, FinetuneOptions o)
    {
        var d = config.Downstream;
        TaskData.CheckLabels(train, d.Task, "--data");
        if (train.AudioOnly && d.Task != DownstreamTask.Audio)
            throw new UserError($"--data {o.Data}: {train.Name} has audio files only, but the {Lower(d.Task)} task needs video. Fix: --task audio.");
        return config with { Downstream = d with { ClassNames = train.ClassNames.ToArray() } };
    }

    static bool IsFinished(string runDir) =>
        File.Exists(Path.Combine(runDir, TransferModelDirectory.ModelSubdirectory, TransferModelDirectory.HeadFile)) &&
        File.Exists(Path.Combine(runDir, "metrics.json"));

    /// <summary>A finished fold, kept: its saved model, tested again for the cross-validation's table.</summary>
    static FinetuneResult KeepFinished(AvBertConfig config, MediaSource? test, FinetuneOptions o, string runDir, string name,
                                       MixedPrecision precision, SkippedLog skipped, TextWriter log)
    {
        log.WriteLine($"{name}: already finished, kept.");
        var modelDir = Path.Combine(runDir, TransferModelDirectory.ModelSubdirectory);
        var (_, done) = TransferModelDirectory.Load(modelDir, o.Device ?? CPU);
        using (done)
        {
            var task = ClassificationTask.For(done, config.Downstream, o.Device ?? CPU);
            var report = test is null ? null : Evaluate(task, config, TaskData.Remap(test, config.Downstream.ClassNames), o, precision, skipped);
            return new FinetuneResult(name, runDir, modelDir, report, 0, 0);
        }
    }

    /// <summary>The backbone (random from <c>downstream.seed</c>, or the --init model's weights) with the task's heads, on <paramref name="device"/>.</summary>
    static TransferModel BuildModel(AvBertConfig config, string? init, Device device)
    {
        Seeding.Seed(config.Downstream.Seed);
        AvBertModel backbone = init is null
            ? new AvBertModel(config.Model)
            : ModelDirectory.Load(TransferModelDirectory.Resolve(init, "--init"), CPU).Model;
        var model = new TransferModel(backbone, TransferModelDirectory.OptionsFor(config));
        model.to(device);
        ChannelsLast.Prepare(model, device);
        ActivationCheckpoint.Apply(model, config.Train.CheckpointActivations);
        SyncBatchNormGroup.Apply(model, config.Train);
        return model;
    }

    /// <summary>What the training loop reads: the loader of the task's training samples, shuffled, and the run's length.</summary>
    sealed record TrainingPlan(VideoSequenceDataset Samples, BatchLoader Loader, int StepsPerEpoch, long Steps, LrSchedule Schedule,
                               EpochData<VideoBatch> Batches)
    {
        public static TrainingPlan For(MediaSource train, AvBertConfig config, FinetuneOptions o, SkippedLog skipped)
        {
            var d = config.Downstream;
            var t = d.Current;
            var samples = new VideoSequenceDataset(train, config.Data, TaskViews.Train(d));
            if (samples.Count == 0) throw new UserError($"--data {o.Data}: the training split has no videos.");
            // [data parallel] batch_size is the global batch: each rank takes its slice.
            var loader = new BatchLoader(samples, new LoaderOptions { BatchSize = DataParallel.RankBatch(t.BatchSize, $"downstream.{Lower(d.Task)}.batch_size"),
                                                                      Workers = o.Workers, Shuffle = true, Seed = d.Seed, Shard = DataParallel.Shard }, skipped);
            int stepsPerEpoch = loader.BatchesPerEpoch;
            long steps = (long)t.Epochs * stepsPerEpoch;
            var schedule = new LrSchedule(t.Schedule, (long)Math.Round(t.WarmupEpochs * stepsPerEpoch), steps);
            return new TrainingPlan(samples, loader, stepsPerEpoch, steps, schedule,
                                    new EpochData<VideoBatch>((epoch, skip) => loader.Epoch(epoch, skip, o.Cancellation)));
        }
    }

    static Trainer CreateTrainer(TransferModel model, TrainingOptimizer optimizer, TrainingPlan plan, DownstreamConfig d, FinetuneOptions o,
                                 string name, MixedPrecision precision, PeriodicTest? heldOut, string runDir) =>
        new(model, optimizer, plan.Schedule, new TrainerOptions
        {
            Steps = plan.Steps, GradClip = d.GradClip, Seed = d.Seed, LogEvery = d.LogEvery, CheckpointEvery = plan.StepsPerEpoch,
            ItemName = ItemName(d), Title = $"finetune {Lower(d.Task)}{(name.Length > 0 ? " " + name : "")}", Progress = o.Progress,
            Warnings = o.Warnings, Precision = precision,
            BeforeOptimizerStep = step => OrthogonalRebasing.Apply(model.Backbone, step),
            AfterStep = heldOut is null ? null : heldOut.After,
        }, runDir);

    static string ItemName(DownstreamConfig d) => d.Task == DownstreamTask.Audio ? "windows" : "clips";

    static StepOutput TrainingStep(ClassificationOutput output) => new(output.Loss, output.Parts, output.Rows);

    /// <summary>The lines that say what is about to train: task, protocol, data, epochs, init, test, device.</summary>
    static void Describe(AvBertConfig config, MediaSource train, MediaSource? testSet, TrainingPlan plan, bool frozen, FinetuneOptions o,
                         string prefix, Device device, MixedPrecision precision, TextWriter log)
    {
        var d = config.Downstream;
        var t = d.Current;
        log.WriteLine($"{prefix}finetune {Lower(d.Task)} ({Lower(t.Protocol)}{(frozen ? ", backbone frozen" : "")}): {train.Items.Count} videos " +
                      $"of {d.ClassNames.Length} classes, {plan.Samples.Count} samples/epoch, {t.Epochs} epochs × {plan.StepsPerEpoch} steps of {t.BatchSize}; " +
                      $"{(o.Init is null ? "random init" : $"init {o.Init}")}; test: {(testSet is null ? "none" : $"{testSet.Items.Count} videos × {TaskViews.DescribeTestViews(d)}")}; {device}, {precision}" +
                      (o.Resume ? ", resuming" : ""));
        if (DataParallel.Current is { } dp) log.WriteLine(dp.Describe()); // [data parallel]
        if (testSet is not null && d.UsesSequences && t.TestClips != config.Data.SequenceLength)
            log.WriteLine($"{prefix}note: the test sequences have {t.TestClips} clips (downstream.{Lower(d.Task)}.test_clips), the training ones " +
                          $"{config.Data.SequenceLength} (data.sequence_length); --set downstream.{Lower(d.Task)}.test_clips={config.Data.SequenceLength} tests them as trained.");
    }

    /// <summary>RUN/model (for eval, predict, extract), RUN/config.yaml, accuracy.png and the held-out report.</summary>
    static void WriteResults(AvBertConfig config, TransferModel model, EvaluationReport? report, string runDir, string modelDir, string prefix, TextWriter log)
    {
        TransferModelDirectory.Save(modelDir, config, model);
        ConfigLoader.Save(config, Path.Combine(runDir, ConfigFile));
        var metricsLog = Path.Combine(runDir, "metrics.jsonl");
        if (File.Exists(metricsLog))
            CurvePlots.Save(MetricsLog.Read(metricsLog), Path.Combine(runDir, "accuracy.png"),
                            n => n is "train_top1" or "test_top1" or "test_top5" or "test_mAP", "accuracy");
        if (report is not null)
        {
            TaskData.WriteReport(report, runDir);
            log.WriteLine($"{prefix}test: {report.Count} videos, top-1 {report.Top1:0.0000}, top-5 {report.Top5:0.0000}, " +
                          $"mean class acc {report.MeanClassAccuracy:0.0000}" + (report.MeanAveragePrecision is { } map ? $", mAP {map:0.0000}" : "") +
                          $" → {Path.Combine(runDir, "metrics.json")}");
        }
        log.WriteLine($"{prefix}model: {modelDir}");
    }

    /// <summary>Evaluates <paramref name="task"/> on a test source whose labels already use the model's class indices.</summary>
    internal static EvaluationReport Evaluate(ClassificationTask task, AvBertConfig config, MediaSource test, FinetuneOptions o, MixedPrecision precision,
                                              SkippedLog? skipped)
    {
        var d = config.Downstream;
        var dataset = new VideoSequenceDataset(test, config.Data, TaskViews.Test(d));
        DataParallel.Current?.AverageBuffers(task.Model); // [data parallel] BatchNorm statistics of all ranks (every rank evaluates the same)
        var predictions = Evaluator.Run(task, dataset, d.Current.Ensemble, TaskData.EvalBatchSize(d), o.Workers, skipped,
                                        precision: precision, ct: o.Cancellation);
        return EvaluationReport.Compute(predictions.Scores, predictions.Labels, d.ClassNames, task.Objective.MultiLabel);
    }

    static string Lower<T>(T e) where T : Enum => e.ToString().ToLowerInvariant();
}
