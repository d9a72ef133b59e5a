using System.Text.Json;
using AvBert.Config;
using AvBert.Distributed;
using AvBert.Runtime;
using AvBert.Storage;
using AvBert.Training;

namespace AvBert.Runs;

/// <summary>
/// What a resumed run must share with the run that made its folder, besides config.yaml (RUN/run.json): the command
/// and the data source it trains on.
/// </summary>
public sealed record RunRecord
{
    public string Command { get; init; } = "";
    /// <summary>The data source spec as given on the command line.</summary>
    public string? Data { get; init; }
    /// <summary>The same spec with its path made absolute (what is compared on resume).</summary>
    public string? DataResolved { get; init; }
}

/// <summary>What a job tells <see cref="RunFolder.Prepare"/> about itself.</summary>
public sealed record RunFolderOptions
{
    /// <summary>Names the command in messages ("pretrain", "finetune").</summary>
    public required string Command { get; init; }
    /// <summary>Whether the folder already holds a run (checkpoints, folds, ...): a new run there is refused.</summary>
    public required Func<bool> HoldsRun { get; init; }
    /// <summary>Whether the folder holds a checkpoint (or a finished part) to resume from.</summary>
    public required Func<bool> HasCheckpoint { get; init; }
    /// <summary>Config keys (dotted; a trailing '.' means the whole section) that must not change on resume.</summary>
    public IReadOnlyList<string> FixedKeys { get; init; } = [];
    /// <summary>The data source spec of this invocation (null: not known, not checked).</summary>
    public string? Data { get; init; }
    /// <summary>Resume even when <see cref="Data"/> differs from the recorded source (--allow-data-change).</summary>
    public bool AllowDataChange { get; init; }
    /// <summary>The command's own checks of a resumed config (after its --set overrides), run before anything in the folder
    /// changes; throws a <see cref="UserError"/> to refuse it. (A new run's checks are part of its config function.)</summary>
    public Action<AvBertConfig>? CheckResumed { get; init; }
}

/// <summary>
/// The config side of a run folder, shared by every training command: a new run writes its resolved config.yaml and
/// run.json (and refuses a folder that already holds a run); <c>--resume</c> reads RUN/config.yaml back, applies --set
/// overrides on top (e.g. more steps), checks that the model, the batch, the seed and the data source stay what they
/// were, and only then saves the result, so a refused resume leaves the folder exactly as it was.
/// </summary>
public static class RunFolder
{
    public const string ConfigFile = "config.yaml";
    public const string RecordFile = "run.json";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <param name="freshConfig">The config of a new run; only called when not resuming.</param>
    public static AvBertConfig Prepare(string runDir, bool resume, RunFolderOptions o, Func<AvBertConfig> freshConfig,
                                       IEnumerable<string>? resumeOverrides = null)
    {
        var configPath = Path.Combine(runDir, ConfigFile);
        var recordPath = Path.Combine(runDir, RecordFile);
        var command = o.Command;
        if (resume)
        {
            if (!File.Exists(configPath))
                throw new UserError($"--resume: {configPath} not found: {runDir} is not a {command} run folder. Fix: drop --resume to start a new run there.");
            if (!o.HasCheckpoint())
                throw new UserError($"--resume: {runDir} holds no checkpoint yet (the run stopped before its first one): there is nothing to resume. " +
                                    $"Fix: drop --resume to start the run again in the same folder.");
            var recorded = ConfigLoader.LoadFile(configPath);
            var sets = (resumeOverrides ?? []).ToList();
            var resumed = sets.Count == 0 ? recorded : ConfigLoader.LoadFile(configPath, sets);
            CheckUnchanged(recorded, resumed, o.FixedKeys, configPath);
            o.CheckResumed?.Invoke(resumed);
            DataParallel.Current?.Synchronize("reading config.yaml"); // [data parallel] all have read it before rank 0 rewrites it
            var record = ReadRecord(recordPath);
            var newRecord = CheckData(record, o, runDir);
            // All checks passed: only now is anything in the folder changed.
            if (sets.Count > 0 && DataParallel.IsRoot) ConfigLoader.Save(resumed, configPath); // [data parallel] rank 0 writes
            if (newRecord != record && DataParallel.IsRoot) AtomicFile.WriteAllText(recordPath, JsonSerializer.Serialize(newRecord, Json) + "\n");
            return resumed;
        }
        if (Directory.Exists(runDir) && o.HoldsRun())
            throw new UserError($"--out {runDir}: the folder already holds a {command} run. Fix: add --resume to continue it, or choose another --out.");
        var fresh = freshConfig();
        Directory.CreateDirectory(runDir);
        if (DataParallel.IsRoot) // [data parallel] rank 0 writes
        {
            ConfigLoader.Save(fresh, configPath);
            AtomicFile.WriteAllText(recordPath, JsonSerializer.Serialize(NewRecord(o), Json) + "\n");
        }
        return fresh;
    }

    static void CheckUnchanged(AvBertConfig recorded, AvBertConfig resumed, IReadOnlyList<string> fixedKeys, string configPath)
    {
        var before = ConfigLoader.Flatten(recorded).ToDictionary(kv => kv.Key, kv => kv.Value);
        var changed = ConfigLoader.Flatten(resumed)
            .Where(kv => fixedKeys.Any(k => k.EndsWith('.') ? kv.Key.StartsWith(k, StringComparison.Ordinal) : kv.Key == k))
            .Where(kv => before.GetValueOrDefault(kv.Key) != kv.Value)
            .Select(kv => $"{kv.Key} {before.GetValueOrDefault(kv.Key)} → {kv.Value}")
            .ToList();
        if (changed.Count > 0)
            throw new UserError($"--resume: {string.Join(", ", changed)}: the checkpoints were trained with {configPath}'s value" +
                                $"{(changed.Count > 1 ? "s" : "")}, which a resumed run must keep (the model, the batch size and the seed make the run). " +
                                "Fix: drop that --set, or start a new run in another --out. Nothing in the run folder was changed.");
    }

    static RunRecord? ReadRecord(string path)
    {
        if (!File.Exists(path)) return null;   // a run folder from before run.json: nothing recorded to compare
        try { return JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new UserError($"{path}: garbled ({e.Message.Split('.')[0]}). Fix: restore it, or delete it to resume without the data-source check.", e); }
    }

    static RunRecord NewRecord(RunFolderOptions o) => new() { Command = o.Command, Data = o.Data, DataResolved = Resolve(o.Data) };

    static RunRecord? CheckData(RunRecord? record, RunFolderOptions o, string runDir)
    {
        if (o.Data is null) return record;
        if (record?.DataResolved is null) return record is null ? NewRecord(o) : record with { Data = o.Data, DataResolved = Resolve(o.Data) };
        if (record.DataResolved == Resolve(o.Data)) return record;
        if (!o.AllowDataChange)
            throw new UserError($"--resume: --data {o.Data} is not the source this run trains on ({record.Data}, recorded in {Path.Combine(runDir, RecordFile)}): " +
                                $"the data position in the checkpoints belongs to that source. Fix: resume with --data {record.Data}, " +
                                "or add --allow-data-change to continue on the new source (the change is recorded in run.json).");
        return record with { Data = o.Data, DataResolved = Resolve(o.Data) };
    }

    /// <summary>A data spec with its path made absolute (KIND:PATH[,options] or a bare path; toy-av specs as they are).</summary>
    static string? Resolve(string? spec)
    {
        if (spec is null) return null;
        spec = spec.Trim();
        int colon = spec.IndexOf(':');
        string kind = "", rest = spec;
        if (colon > 1 && spec[..colon].All(char.IsAsciiLetterLower)) { kind = spec[..(colon + 1)]; rest = spec[(colon + 1)..]; }
        if (kind == "toy-av:" || spec.StartsWith("toy-av", StringComparison.Ordinal)) return spec;
        int comma = rest.IndexOf(',');
        var path = comma < 0 ? rest : rest[..comma];
        var options = comma < 0 ? "" : rest[comma..];
        if (path.StartsWith('~')) path = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + path[1..];
        try { path = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar); } catch (ArgumentException) { }
        return kind + path + options;
    }
}
