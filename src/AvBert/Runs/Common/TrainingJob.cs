using AvBert.Config;
using AvBert.Data;
using AvBert.Training;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>What <see cref="TrainingJob"/> needs to know about a training job besides its config.</summary>
public sealed record TrainingJobOptions
{
    /// <summary>Names the job in its retry lines ("pretrain", "finetune").</summary>
    public required string Command { get; init; }
    /// <summary>RUN folder: config.yaml, run.json, checkpoints/, skipped.tsv, ...</summary>
    public required string RunDir { get; init; }
    /// <summary>Continue the run in <see cref="RunDir"/> from its latest checkpoint.</summary>
    public bool Resume { get; init; }
    /// <summary>Start again from the latest checkpoint this many times when libtorch fails mid-run (<see cref="NativeErrorRetry"/>); 0: never.</summary>
    public int Retries { get; init; }
    /// <summary>The retries of jobs that do not take --retries (the demo's pretraining, the cells of `ablate`), as `pretrain`'s default.</summary>
    public const int DefaultRetries = 3;
    /// <summary>Where the retry lines go (stderr by default).</summary>
    public TextWriter? Errors { get; init; }
    /// <summary>Keep RUN/skipped.tsv (false: generated data, which has no files to skip).</summary>
    public bool LogSkipped { get; init; } = true;
    /// <summary>Where each skipped file's line goes (stderr by default).</summary>
    public TextWriter? SkippedConsole { get; init; }
}

/// <summary>What the training commands (pretrain, finetune) share on the command line besides where and what they train.</summary>
public abstract record TrainingCommandOptions
{
    /// <summary>--set: over a new run's preset and --config, and on top of a resumed run's config.yaml.</summary>
    public IReadOnlyList<string> Sets { get; init; } = [];
    /// <summary>--allow-data-change: with --resume, continue on another --data than the run's own.</summary>
    public bool AllowDataChange { get; init; }
    /// <summary>--device, resolved once the run folder is ready (<see cref="JobProcess.Device"/>).</summary>
    public string DeviceName { get; init; } = "auto";
    /// <summary>--retries (<see cref="TrainingJobOptions.Retries"/>).</summary>
    public int Retries { get; init; }
}

/// <summary>
/// The frame every training job runs in (`pretrain`, `finetune`, the demo's pretraining and the cells of `ablate`):
/// the run folder (the job's own <see cref="RunFolder.Prepare"/> call: a new run's config.yaml and run.json, or
/// --resume's checks), then the skipped-file log RUN/skipped.tsv (continued on resume), then the training itself under
/// <see cref="NativeErrorRetry"/> (each retry resumes from the latest checkpoint and shares the one skipped-file log).
/// </summary>
public sealed class TrainingJob
{
    readonly TrainingJobOptions _options;

    TrainingJob(TrainingJobOptions options, AvBertConfig config, SkippedLog? skipped)
    {
        _options = options;
        Config = config;
        Skipped = skipped;
    }

    /// <summary>The run's config, as the run folder settled it.</summary>
    public AvBertConfig Config { get; }

    /// <summary>The files the run leaves out (null when <see cref="TrainingJobOptions.LogSkipped"/> is false).</summary>
    public SkippedLog? Skipped { get; }

    /// <param name="prepareFolder">The job's run-folder preparation (e.g. <see cref="PretrainRun.PrepareRunDirectory"/>):
    /// returns the config; throws a user error, leaving the folder as it was, when the folder refuses the run.</param>
    public static TrainingJob Open(TrainingJobOptions options, Func<AvBertConfig> prepareFolder)
    {
        var config = prepareFolder();
        var skipped = options.LogSkipped ? new SkippedLog(options.RunDir, options.SkippedConsole, resume: options.Resume) : null;
        return new TrainingJob(options, config, skipped);
    }

    /// <summary>Runs the training: <paramref name="attempt"/> gets whether to resume (false only for the first attempt of
    /// a fresh run) and the callback to report each optimiser step to (<see cref="TrainingRunOptions.OnStep"/>).</summary>
    public T Run<T>(Func<bool, Action<long, IReadOnlyDictionary<string, double>>, T> attempt) =>
        NativeErrorRetry.Run((resume, onStep) => attempt(resume, (step, _) => onStep(step)), _options.Resume, _options.Retries,
                             _options.Errors ?? Console.Error, _options.Command);
}
