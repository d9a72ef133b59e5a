using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using AvBert.Runtime;
using AvBert.Storage;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>Everything besides weights and optimiser moments that a resumed run needs.</summary>
public sealed record TrainingState
{
    /// <summary>Optimiser steps completed.</summary>
    public long Step { get; init; }
    /// <summary>Micro-batches taken from the data stream so far.</summary>
    public long ConsumedBatches { get; init; }
    /// <summary>Where the data stream continues (<see cref="IResumableData{TBatch}.Position"/>).</summary>
    public string? DataPosition { get; init; }
    public long Seed { get; init; }
    /// <summary>The learning-rate schedule's horizons so far (<see cref="LrSchedule.Replans"/>); null in older checkpoints.</summary>
    public List<LrReplan>? Schedule { get; init; }
    /// <summary>Caller-defined values (epoch, best metric, ...).</summary>
    public Dictionary<string, string> Extra { get; init; } = [];
    public DateTimeOffset SavedAt { get; init; }
}

/// <summary>
/// Checkpoints under RUN/checkpoints/step-NNNNNNNN/: model.safetensors (all parameters and buffers of the trained module,
/// heads included), optimizer.bin (moments, step counts, group hyper-parameters), state.json (step, data position, seed)
/// and, written last, manifest.json (size and SHA-256 of each of the others).
/// <para>A checkpoint is written into a temporary folder, every file fsynced, then renamed into place and the parent
/// folder fsynced; `latest` names the newest one. Re-saving an existing step writes the new one completely first, then
/// swaps the two; a save cut short at any point leaves an intact checkpoint of that step (the next start finishes or
/// drops the interrupted swap). Loading verifies the manifest and falls back to the newest intact checkpoint with a
/// one-line warning; when none is intact the error says what is wrong with each.</para>
/// </summary>
public sealed class CheckpointStore
{
    public const string ModelFile = "model.safetensors";
    public const string OptimizerFile = "optimizer.bin";
    public const string StateFile = "state.json";
    public const string ManifestFile = "manifest.json";
    const string LatestFile = "latest";
    const string TempPrefix = ".tmp-";
    const string OldPrefix = ".tmp-old-";
    const string DamagedPrefix = "damaged-";

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public CheckpointStore(string directory, int keep = 2)
    {
        Directory = directory;
        Keep = Math.Max(1, keep);
    }

    public string Directory { get; }
    public int Keep { get; }
    /// <summary>Where the one-line warnings about damaged checkpoints go.</summary>
    public TextWriter Warnings { get; init; } = Console.Error;

    /// <summary>Test seam: called at each stage of a save ("complete", "old-moved-aside", "new-moved-in"); throwing simulates a crash there.</summary>
    internal Action<string>? OnSaveStage { get; init; }

    public static string NameFor(long step) => $"step-{step:D8}";

    /// <summary>Writes a checkpoint for <paramref name="state"/>.Step atomically and prunes old ones. Returns its folder.</summary>
    public string Save(nn.Module model, TrainingOptimizer? optimizer, TrainingState state)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var name = NameFor(state.Step);
        var final = Path.Combine(Directory, name);
        var tmp = Path.Combine(Directory, $"{TempPrefix}{name}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(tmp);
        try
        {
            SafetensorsFile.Write(Path.Combine(tmp, ModelFile), model.state_dict());
            if (optimizer is not null) AtomicFile.WriteVia(Path.Combine(tmp, OptimizerFile), optimizer.Save);
            AtomicFile.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state with { SavedAt = DateTimeOffset.UtcNow, Schedule = state.Schedule ?? [] }, Json));
            // The manifest last: a folder with a manifest that verifies is a complete checkpoint.
            AtomicFile.WriteAllText(Path.Combine(tmp, ManifestFile), JsonSerializer.Serialize(Manifest.Of(tmp), Json));
        }
        catch (Exception e)
        {
            try { System.IO.Directory.Delete(tmp, true); } catch (Exception) { /* the incomplete folder is removed on the next start */ }
            if (AtomicFile.IsDiskFull(e) && e is not DiskFullError) throw AtomicFile.DiskFull(tmp, e);
            throw;
        }
        OnSaveStage?.Invoke("complete");
        // From here on `tmp` is a complete checkpoint: a crash leaves it for RecoverInterruptedSaves.
        if (System.IO.Directory.Exists(final))
        {
            var old = Path.Combine(Directory, $"{OldPrefix}{name}-{Guid.NewGuid():N}");
            System.IO.Directory.Move(final, old);
            OnSaveStage?.Invoke("old-moved-aside");
            System.IO.Directory.Move(tmp, final);
            AtomicFile.FsyncDirectory(Directory);
            OnSaveStage?.Invoke("new-moved-in");
            System.IO.Directory.Delete(old, true);
        }
        else
        {
            System.IO.Directory.Move(tmp, final);
            AtomicFile.FsyncDirectory(Directory);
        }
        AtomicFile.WriteAllText(Path.Combine(Directory, LatestFile), name + "\n");
        Prune(state.Step);
        return final;
    }

    /// <summary>The newest checkpoint folder that has all its files (not verified: see <see cref="LoadLatest"/>), or null.</summary>
    public string? Latest()
    {
        if (!System.IO.Directory.Exists(Directory)) return null;
        var latestFile = Path.Combine(Directory, LatestFile);
        if (File.Exists(latestFile))
        {
            var dir = Path.Combine(Directory, File.ReadAllText(latestFile).Trim());
            if (IsComplete(dir)) return dir;
        }
        return Steps().Where(c => IsComplete(c.Dir)).Select(c => c.Dir).FirstOrDefault();
    }

    /// <summary>Whether the store holds any checkpoint, intact or not (a run folder with one is a run to resume).</summary>
    public bool HasAny() => Steps().Any() || Interrupted().Any();

    /// <summary>
    /// Loads the newest intact checkpoint into <paramref name="model"/> and <paramref name="optimizer"/>; null when there is
    /// none at all. A damaged newer one is renamed damaged-step-N (kept for inspection) with a one-line warning.
    /// </summary>
    public TrainingState? LoadLatest(nn.Module model, TrainingOptimizer? optimizer)
    {
        RecoverInterruptedSaves();
        var damaged = new List<string>();
        foreach (var (_, dir) in Steps())
        {
            var problem = Verify(dir, optimizer is not null);
            if (problem is null) return Load(dir, model, optimizer, verified: true);
            damaged.Add($"{Path.GetFileName(dir)}: {problem}");
            var aside = Path.Combine(Directory, $"{DamagedPrefix}{Path.GetFileName(dir)}-{DateTime.UtcNow:yyyyMMddHHmmss}");
            try { System.IO.Directory.Move(dir, aside); } catch (IOException) { aside = dir; }
            Warnings.WriteLine($"warning: checkpoint {dir} is damaged ({problem}); kept as {aside}; trying the previous one.");
        }
        if (damaged.Count > 0)
            throw new UserError($"{Directory}: no intact checkpoint to resume from ({string.Join("; ", damaged)}). " +
                                "Fix: start a new run (drop --resume, another --out), or restore the checkpoints folder from a backup.");
        return null;
    }

    /// <summary>Loads one checkpoint folder (verifying it first).</summary>
    public static TrainingState Load(string dir, nn.Module model, TrainingOptimizer? optimizer) => Load(dir, model, optimizer, verified: false);

    static TrainingState Load(string dir, nn.Module model, TrainingOptimizer? optimizer, bool verified)
    {
        if (!verified && Verify(dir, optimizer is not null) is { } problem)
            throw new UserError($"{dir}: not an intact checkpoint ({problem}). Fix: point to a step-N folder written by a training run, or an older one.");
        var state = ReadState(dir, out _)!;
        SafetensorsFile.LoadInto(model.state_dict(), Path.Combine(dir, ModelFile),
                                 "resume with the same model config (RUN/config.yaml) the checkpoint was trained with.");
        if (optimizer is not null) optimizer.Load(Path.Combine(dir, OptimizerFile));
        return state;
    }

    /// <summary>Has all files a checkpoint needs (model, state, manifest; older checkpoints have no manifest).</summary>
    public static bool IsComplete(string dir) =>
        System.IO.Directory.Exists(dir) && File.Exists(Path.Combine(dir, StateFile)) && File.Exists(Path.Combine(dir, ModelFile));

    /// <summary>What is wrong with a checkpoint folder, or null when it is intact.</summary>
    public static string? Verify(string dir, bool needOptimizer)
    {
        if (!System.IO.Directory.Exists(dir)) return "folder not found";
        var manifestPath = Path.Combine(dir, ManifestFile);
        if (!File.Exists(manifestPath))
        {
            // Checkpoints from before manifests: check what can be checked without one.
            if (!File.Exists(Path.Combine(dir, StateFile))) return $"no {StateFile}";
            if (ReadState(dir, out var stateProblem) is null) return stateProblem;
            if (File.Exists(Path.Combine(dir, OptimizerFile)) is false && needOptimizer) return $"no {OptimizerFile}";
            if (!File.Exists(Path.Combine(dir, ModelFile))) return $"no {ModelFile}";
            if (!LegacyFormat(dir)) return $"no {ManifestFile} (the save did not finish)";
            try { SafetensorsFile.Open(Path.Combine(dir, ModelFile)); }
            catch (UserError e) { return e.Message.Replace(dir + Path.DirectorySeparatorChar, ""); }
            return null;
        }
        Manifest? manifest;
        try { manifest = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(manifestPath), Json); }
        catch (JsonException) { manifest = null; }
        if (manifest?.Files is not { Count: > 0 } files) return $"{ManifestFile} is empty or garbled";
        foreach (var required in needOptimizer ? new[] { ModelFile, StateFile, OptimizerFile } : [ModelFile, StateFile])
            if (!files.ContainsKey(required)) return $"{ManifestFile} does not list {required}";
        foreach (var (file, expected) in files)
        {
            var path = Path.Combine(dir, file);
            if (file.Contains('/') || file.Contains('\\') || !File.Exists(path)) return $"{file} is missing";
            long size = new FileInfo(path).Length;
            if (size != expected.Bytes) return $"{file} has {size:N0} bytes, the manifest says {expected.Bytes:N0} (truncated or replaced)";
            if (!string.Equals(Sha256(path), expected.Sha256, StringComparison.OrdinalIgnoreCase)) return $"{file} does not match its SHA-256 in the manifest (corrupted)";
        }
        return ReadState(dir, out var problem) is null ? problem : null;
    }

    /// <summary>state.json of an older checkpoint has no schedule record; newer ones always do (then a missing manifest is damage).</summary>
    static bool LegacyFormat(string dir) => ReadState(dir, out _) is { Schedule: null };

    static TrainingState? ReadState(string dir, out string? problem)
    {
        problem = null;
        try
        {
            var text = File.ReadAllText(Path.Combine(dir, StateFile));
            if (string.IsNullOrWhiteSpace(text)) { problem = $"{StateFile} is empty"; return null; }
            var state = JsonSerializer.Deserialize<TrainingState>(text, Json);
            if (state is null) problem = $"{StateFile} is empty";
            return state;
        }
        catch (JsonException) { problem = $"{StateFile} is garbled (not the JSON a save writes)"; }
        catch (IOException e) { problem = $"{StateFile} cannot be read ({e.Message})"; }
        return null;
    }

    static string Sha256(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    /// <summary>manifest.json: each file of the checkpoint with its size and SHA-256.</summary>
    sealed record Manifest(Dictionary<string, ManifestEntry> Files)
    {
        public static Manifest Of(string dir) => new(System.IO.Directory.EnumerateFiles(dir)
            .Where(f => Path.GetFileName(f) != ManifestFile && !Path.GetFileName(f).StartsWith('.'))
            .Order(StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileName(f), f => new ManifestEntry(new FileInfo(f).Length, Sha256(f))));
    }

    sealed record ManifestEntry(long Bytes, string Sha256);

    /// <summary>step-N folders, newest first.</summary>
    IEnumerable<(long Step, string Dir)> Steps()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        return System.IO.Directory.EnumerateDirectories(Directory, "step-*")
            .Select(d => (Ok: long.TryParse(Path.GetFileName(d).AsSpan(5), out var s), Step: s, Dir: d))
            .Where(x => x.Ok).OrderByDescending(x => x.Step).Select(x => (x.Step, x.Dir)).ToList();
    }

    /// <summary>Temporary folders of saves that were cut short: (step, folder), new copies before old ones.</summary>
    IEnumerable<(long Step, string Dir)> Interrupted()
    {
        if (!System.IO.Directory.Exists(Directory)) yield break;
        foreach (var prefix in new[] { TempPrefix + "step-", OldPrefix + "step-" })
            foreach (var d in System.IO.Directory.EnumerateDirectories(Directory, prefix + "*"))
            {
                var rest = Path.GetFileName(d)[prefix.Length..];
                int dash = rest.IndexOf('-');
                if (long.TryParse(dash < 0 ? rest : rest[..dash], out var step) && File.Exists(Path.Combine(d, ManifestFile))) yield return (step, d);
            }
    }

    /// <summary>
    /// Finishes what a save cut short left behind: a complete copy whose step folder is missing is moved into place (the
    /// new copy before the old one); every other temporary folder is removed.
    /// </summary>
    void RecoverInterruptedSaves()
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        foreach (var (step, dir) in Interrupted().ToList())
        {
            var final = Path.Combine(Directory, NameFor(step));
            if (!System.IO.Directory.Exists(final) && Verify(dir, needOptimizer: false) is null)
            {
                System.IO.Directory.Move(dir, final);
                AtomicFile.FsyncDirectory(Directory);
            }
        }
        foreach (var d in System.IO.Directory.EnumerateDirectories(Directory, TempPrefix + "*"))
        {
            try { System.IO.Directory.Delete(d, true); } catch (IOException) { }
        }
    }

    void Prune(long current)
    {
        foreach (var (_, dir) in Steps().Where(c => c.Step != current && IsComplete(c.Dir)).Skip(Keep - 1))
        {
            try { System.IO.Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
