using AvBert.Config;
using AvBert.Runtime;

namespace AvBert.Runs;

/// <summary>`avbert finetune` as the command line gives it.</summary>
public sealed record FinetuneJobOptions : TrainingCommandOptions
{
    /// <summary>Where, on what and how to train; its Resume says whether this is --resume, its Device is set from <see cref="DeviceName"/>.</summary>
    public required FinetuneOptions Run { get; init; }
    /// <summary>--task and --protocol: config fields that win over --config/--set (--task is required for a new run).</summary>
    public DownstreamTask? Task { get; init; }
    public TransferProtocol? Protocol { get; init; }
    /// <summary>--preset and --config of a new run.</summary>
    public string? Preset { get; init; }
    public string? ConfigFile { get; init; }
}

/// <summary>`avbert finetune` in one call: the run folder (the config from --init's model where given), the training
/// with retries (<see cref="TrainingJob"/>), the test reports.</summary>
public static class FinetuneJob
{
    public static FinetuneSummary Run(FinetuneJobOptions o)
    {
        var r = o.Run;
        var runDir = r.RunDir;
        if (o.Task is null && !r.Resume)
            throw new UserError("finetune: --task is required (visual, audio, audiovisual or multilabel).");
        bool randomInit = r.Init is null;
        var job = TrainingJob.Open(new TrainingJobOptions { Command = "finetune", RunDir = runDir, Resume = r.Resume, Retries = o.Retries },
            () => FinetuneRun.PrepareRunDirectory(runDir,
                () => FinetuneRun.UserConfig(o.Preset, o.ConfigFile, o.Sets, randomInit, o.Task, o.Protocol),
                r.Init, r.Resume, o.Sets, r.Data, o.AllowDataChange));
        var config = job.Config;
        if (randomInit && !r.Resume) (r.Log ?? Console.Out).WriteLine(FinetuneRun.FromScratchLine(config));
        if (r.Resume && o.Task is { } task && task != config.Downstream.Task)
            throw new UserError($"--resume: the run in {runDir} trains the {config.Downstream.Task.ToString().ToLowerInvariant()} task, not {task.ToString().ToLowerInvariant()}. Fix: drop --task or choose another --out.");
        var device = JobProcess.Device(o.DeviceName);
        return job.Run((resume, onStep) => FinetuneRun.Run(config, r with { Resume = resume, Device = device, OnStep = onStep }, job.Skipped));
    }
}
