using AvBert.Config;
using AvBert.Distributed;
using AvBert.Runtime;

namespace AvBert.Training;

/// <summary>
/// The config side of a run folder, shared by every training command: a new run writes its resolved config.yaml
/// (and refuses a folder that already holds a run); <c>--resume</c> reads RUN/config.yaml back, applies --set overrides
/// on top (e.g. more steps) and saves the result, so the folder always says how it was trained.
/// </summary>
public static class RunFolder
{
    public const string ConfigFile = "config.yaml";

    /// <param name="command">Names the command in messages ("pretrain", "finetune").</param>
    /// <param name="holdsRun">Whether <paramref name="runDir"/> already holds a run (checkpoints, folds, ...).</param>
    /// <param name="freshConfig">The config of a new run; only called when not resuming.</param>
    public static AvBertConfig Prepare(string runDir, string command, bool resume, Func<bool> holdsRun,
                                       Func<AvBertConfig> freshConfig, IEnumerable<string>? resumeOverrides = null)
    {
        var configPath = Path.Combine(runDir, ConfigFile);
        if (resume)
        {
            if (!File.Exists(configPath))
                throw new UserError($"--resume: {configPath} not found: {runDir} is not a {command} run folder. Fix: drop --resume to start a new run there.");
            var resumed = ConfigLoader.LoadFile(configPath, resumeOverrides);
            DataParallel.Current?.Synchronize("reading config.yaml"); // [data parallel] all have read it before rank 0 rewrites it
            if (DataParallel.IsRoot) ConfigLoader.Save(resumed, configPath);
            return resumed;
        }
        if (Directory.Exists(runDir) && holdsRun())
            throw new UserError($"--out {runDir}: the folder already holds a {command} run. Fix: add --resume to continue it, or choose another --out.");
        var fresh = freshConfig();
        Directory.CreateDirectory(runDir);
        if (DataParallel.IsRoot) ConfigLoader.Save(fresh, configPath); // [data parallel] rank 0 writes
        return fresh;
    }
}
