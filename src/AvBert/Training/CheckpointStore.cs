using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using AvBert.Runtime;
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
    /// <summary>Caller-defined values (epoch, best metric, ...).</summary>
    public Dictionary<string, string> Extra { get; init; } = [];
    public DateTimeOffset SavedAt { get; init; }
}

/// <summary>
/// Checkpoints under RUN/checkpoints/step-NNNNNNNN/: model.safetensors (all parameters and buffers of the trained module,
/// heads included), optimizer.bin (moments, step counts, group hyper-parameters) and state.json (step, data position,
/// seed). A checkpoint is written into a temporary folder, flushed to disk and renamed into place; `latest` names the
/// newest one and is replaced atomically too. A run killed at any moment leaves either the previous checkpoint or the
/// new one, never a half-written one; leftover temporary folders are removed on the next start.
/// </summary>
public sealed class CheckpointStore
{
    public const string ModelFile = "model.safetensors";
    public const string OptimizerFile = "optimizer.bin";
    public const string StateFile = "state.json";
    const string LatestFile = "latest";
    const string TempPrefix = ".tmp-";

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
            WriteSafetensors(Path.Combine(tmp, ModelFile), model);
            if (optimizer is not null)
            {
                var optPath = Path.Combine(tmp, OptimizerFile);
                optimizer.Save(optPath);
                FsyncFile(optPath);
            }
            // state.json last: a folder with state.json is complete.
            WriteDurable(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state with { SavedAt = DateTimeOffset.UtcNow }, Json));

            if (System.IO.Directory.Exists(final))
            {
                // Re-saving a step (after a resume): move the old one aside first so `final` is never half-present.
                var old = Path.Combine(Directory, $"{TempPrefix}old-{name}-{Guid.NewGuid():N}");
                System.IO.Directory.Move(final, old);
                System.IO.Directory.Move(tmp, final);
                System.IO.Directory.Delete(old, true);
            }
            else System.IO.Directory.Move(tmp, final);
        }
        catch
        {
            try { if (System.IO.Directory.Exists(tmp)) System.IO.Directory.Delete(tmp, true); } catch (IOException) { }
            throw;
        }
        WriteDurable(Path.Combine(Directory, LatestFile), name + "\n");
        Prune(state.Step);
        return final;
    }

    /// <summary>The newest complete checkpoint folder, or null when there is none.</summary>
    public string? Latest()
    {
        if (!System.IO.Directory.Exists(Directory)) return null;
        var latestFile = Path.Combine(Directory, LatestFile);
        if (File.Exists(latestFile))
        {
            var dir = Path.Combine(Directory, File.ReadAllText(latestFile).Trim());
            if (IsComplete(dir)) return dir;
        }
        return Complete().OrderByDescending(c => c.Step).Select(c => c.Dir).FirstOrDefault();
    }

    /// <summary>Loads the newest checkpoint into <paramref name="model"/> and <paramref name="optimizer"/>; null when there is none.</summary>
    public TrainingState? LoadLatest(nn.Module model, TrainingOptimizer? optimizer)
    {
        RemoveLeftovers();
        var dir = Latest();
        return dir is null ? null : Load(dir, model, optimizer);
    }

    /// <summary>Loads one checkpoint folder.</summary>
    public static TrainingState Load(string dir, nn.Module model, TrainingOptimizer? optimizer)
    {
        if (!IsComplete(dir))
            throw new UserError($"{dir}: not a complete checkpoint (no {StateFile}). Fix: point to a step-N folder written by a training run.");
        var state = JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(Path.Combine(dir, StateFile)), Json)
                    ?? throw new UserError($"{Path.Combine(dir, StateFile)}: empty or unreadable.");
        ReadSafetensors(Path.Combine(dir, ModelFile), model);
        if (optimizer is not null)
        {
            var optPath = Path.Combine(dir, OptimizerFile);
            if (!File.Exists(optPath)) throw new UserError($"{optPath}: missing; this checkpoint cannot resume training.");
            optimizer.Load(optPath);
        }
        return state;
    }

    public static bool IsComplete(string dir) => System.IO.Directory.Exists(dir) && File.Exists(Path.Combine(dir, StateFile)) && File.Exists(Path.Combine(dir, ModelFile));

    IEnumerable<(long Step, string Dir)> Complete()
    {
        foreach (var d in System.IO.Directory.EnumerateDirectories(Directory, "step-*"))
        {
            var n = Path.GetFileName(d);
            if (long.TryParse(n.AsSpan(5), out var step) && IsComplete(d)) yield return (step, d);
        }
    }

    void Prune(long current)
    {
        foreach (var (_, dir) in Complete().Where(c => c.Step != current).OrderByDescending(c => c.Step).Skip(Keep - 1))
        {
            try { System.IO.Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    void RemoveLeftovers()
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        foreach (var d in System.IO.Directory.EnumerateDirectories(Directory, TempPrefix + "*"))
        {
            try { System.IO.Directory.Delete(d, true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Writes every parameter and buffer of <paramref name="model"/> as safetensors (CPU copies, so CUDA models work too),
    /// flushed to disk before returning.
    /// </summary>
    public static void WriteSafetensors(string path, nn.Module model)
    {
        using var scope = NewDisposeScope();
        var entries = model.state_dict().Select(kv => (kv.Key, Tensor: kv.Value.detach().cpu().contiguous())).ToList();
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (key, t) in entries)
        {
            long length = t.NumberOfElements * t.ElementSize;
            header[key] = new { dtype = DType(t.dtype), shape = t.shape, data_offsets = new[] { offset, offset + length } };
            offset += length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using (var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None))
        using (var w = new BinaryWriter(fs))
        {
            w.Write((ulong)json.Length);
            w.Write(json);
            foreach (var (_, t) in entries) w.Write(t.bytes);
            w.Flush();
            fs.Flush(flushToDisk: true);
        }
    }

    /// <summary>
    /// Loads a safetensors file written by <see cref="WriteSafetensors"/> into <paramref name="model"/>: every parameter and
    /// buffer must be present with the same shape and dtype, else a <see cref="UserError"/> lists the first differences.
    /// </summary>
    public static void ReadSafetensors(string path, nn.Module model)
    {
        if (!File.Exists(path)) throw new UserError($"{path}: file not found.");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var fs = File.OpenRead(path);
        using var r = new BinaryReader(fs);
        Dictionary<string, JsonElement> header;
        try
        {
            var len = r.ReadUInt64();
            if (len > int.MaxValue || (long)len > fs.Length - 8) throw new InvalidDataException("bad header length");
            header = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(r.ReadBytes((int)len))!;
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or EndOfStreamException)
        {
            throw new UserError($"{path}: not a safetensors file ({e.Message}).");
        }
        long dataStart = fs.Position;
        header.Remove("__metadata__");
        var target = model.state_dict();
        var problems = new List<string>();
        foreach (var key in target.Keys.Except(header.Keys)) problems.Add($"missing '{key}'");
        foreach (var key in header.Keys.Except(target.Keys)) problems.Add($"unexpected '{key}'");
        foreach (var (key, t) in target)
        {
            if (!header.TryGetValue(key, out var e)) continue;
            var shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var dtype = e.GetProperty("dtype").GetString();
            if (!shape.SequenceEqual(t.shape)) problems.Add($"'{key}' has shape [{string.Join(",", shape)}], the model [{string.Join(",", t.shape)}]");
            else if (dtype != DType(t.dtype)) problems.Add($"'{key}' is {dtype}, the model {DType(t.dtype)}");
        }
        if (problems.Count > 0)
            throw new UserError($"{path}: weights do not match this model ({string.Join("; ", problems.Take(4))}{(problems.Count > 4 ? $"; {problems.Count - 4} more" : "")}). " +
                                "Fix: use the same model config (RUN/config.yaml) the weights were trained with.");
        foreach (var (key, t) in target)
        {
            var offsets = header[key].GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            fs.Position = dataStart + offsets[0];
            var cpuCopy = empty(t.shape, t.dtype);
            cpuCopy.bytes = r.ReadBytes((int)(offsets[1] - offsets[0]));
            t.copy_(cpuCopy);
        }
    }

    static string DType(ScalarType t) => t switch
    {
        ScalarType.Float32 => "F32", ScalarType.Float64 => "F64", ScalarType.Float16 => "F16", ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64", ScalarType.Int32 => "I32", ScalarType.Int16 => "I16", ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8", ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"safetensors: dtype {t}"),
    };

    /// <summary>Writes text to a temporary file, flushes it to disk and renames it over <paramref name="path"/>.</summary>
    public static void WriteDurable(string path, string text)
    {
        var tmp = path + $".tmp-{Environment.ProcessId}";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    static void FsyncFile(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        fs.Flush(flushToDisk: true);
    }
}
