using AvBert.Config;
using AvBert.Data;
using AvBert.Distributed;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>How to run a pretraining job (everything that is not in the config).</summary>
public sealed record PretrainRunOptions : TrainingRunOptions;

/// <summary>The end of a pretraining run.</summary>
public sealed record PretrainSummary(long Steps, IReadOnlyDictionary<string, double> LastValues, double Seconds, double ClipsPerSecond,
                                     string ModelDir, int SkippedFiles)
{
    /// <summary>RUN/skipped.tsv, where the skipped files are listed (null: not kept).</summary>
    public string? SkippedFile { get; init; }
}

/// <summary>
/// `avbert pretrain` as a library call: builds the model and the pretraining heads, the loader over any
/// <see cref="IClipDataset"/> (real videos through <see cref="VideoSequenceDataset"/>, or synthetic data), the AdamW
/// optimiser and schedule, and drives <see cref="Trainer"/>; at the end writes RUN/model (config.yaml + weights) for
/// downstream <c>--init RUN/model</c>.
/// </summary>
public static class PretrainRun
{
    public const string ConfigFile = RunFolder.ConfigFile;
    public const string ModelDir = "model";

    /// <summary>
    /// The config of a run: for a new run, <paramref name="config"/> (written to RUN/config.yaml, with the data source in
    /// RUN/run.json; a RUN that already has checkpoints is refused); for --resume, RUN/config.yaml with
    /// <paramref name="resumeOverrides"/> applied on top (e.g. more pretrain.steps), after checking that the model, the
    /// batch, the seed and the data source (<paramref name="data"/>, when given) stay those of the run.
    /// </summary>
    public static AvBertConfig PrepareRunDirectory(string runDir, Func<AvBertConfig> config, bool resume, IEnumerable<string>? resumeOverrides = null,
                                                   string? data = null, bool allowDataChange = false)
    {
        var store = new CheckpointStore(Path.Combine(runDir, "checkpoints"));
        return RunFolder.Prepare(runDir, resume, new RunFolderOptions
        {
            Command = "pretrain", HoldsRun = store.HasAny, HasCheckpoint = store.HasAny,
            FixedKeys = ["model.", "pretrain.batch_size", "pretrain.seed"], Data = data, AllowDataChange = allowDataChange,
            CheckResumed = resumed => Checked(resumed),
        }, config, resumeOverrides);
    }

    /// <summary>The pretraining dataset over an unlabeled (or labeled: labels are ignored) media source; it decodes only the
    /// <paramref name="streams"/> the model has (an audio-only model never decodes video, and the reverse).</summary>
    public static VideoSequenceDataset Dataset(MediaSource source, DataConfig data, Modalities streams = Modalities.AudioVisual) =>
        new(source, data, new SequenceOptions { Mode = SampleMode.Train, Modalities = streams });

    /// <summary><paramref name="config"/> after the checks only pretraining makes (a single-modality model's options), so a
    /// refused config writes nothing into the run folder.</summary>
    public static AvBertConfig Checked(AvBertConfig config)
    {
        SingleStreamPretraining.CheckOptions(config.Model, config.Pretrain);
        return config;
    }

    public static PretrainSummary Run(AvBertConfig config, IClipDataset dataset, PretrainRunOptions o, SkippedLog? skipped = null)
    {
        var log = o.Log ?? Console.Out;
        var p = config.Pretrain;
        var device = o.Device ?? CPU;
        if (dataset.Count == 0) throw new UserError("pretrain: the data source has no videos. Fix: check --data.");
        // [data parallel] batch_size is the global batch: each rank takes its slice of every micro-batch.
        int micro = DataParallel.RankBatch(p.BatchSize / p.Accumulation, "pretrain.batch_size / pretrain.accumulation");
        Checked(config);
        if (micro < 2 && p.CppFraction > 0 && config.Model.Modalities == Modalities.AudioVisual)
            log.WriteLine("note: a micro-batch of 1 video has no other video to swap audio with: CPP is skipped.");

        Seeding.Seed(p.Seed);
        var model = new AvBertModel(config.Model);
        var pretrainer = new AvBertPretrainer(model, config.Model, PretrainObjectiveOptions.From(p));
        pretrainer.to(device);
        ChannelsLast.Prepare(pretrainer, device);
        ActivationCheckpoint.Apply(pretrainer, config.Train.CheckpointActivations);
        SyncBatchNormGroup.Apply(pretrainer, config.Train);
        if (p.SampleAcrossRanks && JobRanks.Current is { } ranks)
        {
            pretrainer.Ranks = ranks;
            log.WriteLine($"pretrain.sample_across_ranks: MEP negatives and CPP partners from the global batch ({micro * ranks.Size} videos over {ranks.Size} ranks)");
        }
        using var optimizer = TrainingOptimizer.Create(
            TrainingOptimizer.DecayGroups(pretrainer.named_parameters(), p.Lr, p.WeightDecay),
            new AdamOptions { Kind = OptimizerKind.AdamW, Beta1 = p.Betas[0], Beta2 = p.Betas[1], Eps = p.Eps, AmsGrad = p.Amsgrad });
        var schedule = new LrSchedule(p.Schedule, p.WarmupSteps, p.Steps);
        var precision = MixedPrecision.For(config, device, log);

        var loader = new BatchLoader(dataset, new LoaderOptions
        {
            BatchSize = micro,
            Workers = o.Workers,
            Shuffle = true,
            DropLast = dataset.Count >= micro, // contrastive losses want full batches; tiny sources keep their one batch
            Seed = p.Seed,
            Shard = DataParallel.Shard, // [data parallel]
        }, skipped);
        var data = new EpochData<VideoBatch>((epoch, skip) => loader.Epoch(epoch, skip, o.Cancellation));

        var trainer = new Trainer(pretrainer, optimizer, schedule, new TrainerOptions
        {
            Steps = p.Steps, Accumulation = p.Accumulation, GradClip = p.GradClip, Seed = p.Seed,
            LogEvery = p.LogEvery, CheckpointEvery = p.CheckpointEvery, KeepCheckpoints = p.KeepCheckpoints,
            ItemName = "clips", Title = "pretrain", Progress = o.Progress, Warnings = o.Warnings, Precision = precision,
            BeforeOptimizerStep = step => OrthogonalRebasing.Apply(model, step),
        }, o.RunDir);

        log.WriteLine($"pretrain: {dataset.Count} videos, {p.Steps} steps of {p.BatchSize} videos × {config.Data.SequenceLength} clips " +
                      $"({(p.Accumulation > 1 ? $"{p.Accumulation} micro-batches of {micro}, " : "")}{Parameters(pretrainer):N0} parameters) on {device}, {precision}" +
                      (model.HasVisual && model.HasAudio ? "" : $", {(model.HasVisual ? "visual" : "audio")} only (MEP, no CPP)") +
                      (o.Resume ? ", resuming" : ""));
        if (DataParallel.Current is { } dp) log.WriteLine(dp.Describe()); // [data parallel]
        DeviceMemory.ResetPeak(device);
        var result = trainer.Run(data, batch =>
        {
            // A single-modality model takes its one stream (a generated batch may carry both).
            if (model.HasVisual && batch.Visual is null) throw new InvalidOperationException("pretraining this model needs visual clips in every batch");
            if (model.HasAudio && batch.Audio is null) throw new InvalidOperationException("pretraining this model needs audio clips in every batch");
            var (visual, audio) = batch.ToDevice(device);
            var losses = pretrainer.forward(model.HasVisual ? visual : null, model.HasAudio ? audio : null);
            var clips = (batch.Visual ?? batch.Audio)!;
            return new StepOutput(losses.Total, losses.Parts, clips.shape[0] * clips.shape[1]);
        }, o.Resume, o.OnStep, o.Cancellation);
        if (device.type == DeviceType.CUDA) log.WriteLine($"pretrain: peak GPU memory {DeviceMemory.Describe(device)}");

        var modelDir = Path.Combine(o.RunDir, ModelDir);
        if (DataParallel.IsRoot) ModelDirectory.Save(modelDir, config, model); // [data parallel] rank 0 writes
        return new PretrainSummary(result.Step, result.LastValues, result.Seconds, result.ItemsPerSecond, modelDir,
                                   skipped?.Items.Count ?? 0);
    }

    /// <summary>
    /// The pretraining heads (MEP and CPP) of the run in <paramref name="runDir"/>, from its latest checkpoint, on
    /// <paramref name="device"/>; null when the config has no CPP (pretrain.cpp_fraction 0) or the run has no checkpoint.
    /// </summary>
    public static AvBertPretrainer? LoadHeads(AvBertConfig config, string runDir, Device device)
    {
        if (config.Pretrain.CppFraction <= 0) return null;
        var store = new CheckpointStore(Path.Combine(runDir, "checkpoints"));
        var latest = store.Latest();
        if (latest is null) return null;
        var model = new AvBertModel(config.Model);
        var p = new AvBertPretrainer(model, config.Model, PretrainObjectiveOptions.From(config.Pretrain));
        CheckpointStore.Load(latest, p, null);
        p.to(device);
        return p;
    }

    static long Parameters(TorchSharp.torch.nn.Module m) => m.parameters().Sum(x => x.numel());
}
