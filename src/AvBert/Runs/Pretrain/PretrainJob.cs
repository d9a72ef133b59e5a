using AvBert.Config;

namespace AvBert.Runs;

/// <summary>`avbert pretrain` as the command line gives it.</summary>
public sealed record PretrainJobOptions : TrainingCommandOptions
{
    /// <summary>Where and how to train; its Resume says whether this is --resume, its Device is set from <see cref="DeviceName"/>.</summary>
    public required PretrainRunOptions Run { get; init; }
    /// <summary>The unlabeled source spec (--data).</summary>
    public required string Data { get; init; }
    /// <summary>The config of a new run (--preset, --config, --set); only called when not resuming.</summary>
    public required Func<AvBertConfig> Config { get; init; }
}

/// <summary>`avbert pretrain` in one call: the run folder, the data, the training with retries (<see cref="TrainingJob"/>).</summary>
public static class PretrainJob
{
    public static PretrainSummary Run(PretrainJobOptions o)
    {
        var runDir = o.Run.RunDir;
        var job = TrainingJob.Open(new TrainingJobOptions { Command = "pretrain", RunDir = runDir, Resume = o.Run.Resume, Retries = o.Retries },
            () => PretrainRun.PrepareRunDirectory(runDir, () => PretrainRun.Checked(o.Config()), o.Run.Resume, o.Sets, o.Data, o.AllowDataChange));
        var device = JobProcess.Device(o.DeviceName);
        var dataset = DataSpec.OpenClips(o.Data, job.Config, job.Skipped);
        var summary = job.Run((resume, onStep) => PretrainRun.Run(job.Config, dataset, o.Run with { Resume = resume, Device = device, OnStep = onStep }, job.Skipped));
        return summary with { SkippedFile = job.Skipped?.FilePath };
    }
}
