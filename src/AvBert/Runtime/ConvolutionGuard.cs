using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AvBert.Runtime;

/// <summary>Whether ATen may use oneDNN for convolutions (in the product: <see cref="LibTorchContext"/>).</summary>
public interface IOneDnnSwitch
{
    /// <summary>The switch can be read and set.</summary>
    bool Available { get; }
    bool Enabled { get; set; }
}

/// <summary>libtorch's own switch, <c>at::Context::setUserEnabledMkldnn</c>.</summary>
public sealed class LibTorchOneDnnSwitch : IOneDnnSwitch
{
    public bool Available => LibTorchContext.Available;
    public bool Enabled { get => LibTorchContext.OneDnnEnabled; set => LibTorchContext.OneDnnEnabled = value; }
}

/// <summary>The convolutions failed the self-check even with the workaround: computing on would give wrong numbers.</summary>
public sealed class ConvolutionCheckFailed(string message) : UserError(message);

/// <summary>
/// Makes sure the float32 CPU convolutions a model uses compute correctly on this machine before the model is used
/// (README, "Correctness on every CPU"). <see cref="Ensure"/> runs <see cref="ConvolutionCheck"/> over the model's
/// convolution shape classes; when oneDNN fails it, ATen's own convolutions are switched on instead (oneDNN off in
/// libtorch's global context), the same check proves them, and one line says so. Should they fail too, it stops with an
/// error rather than let a run compute garbage. Verdicts are cached on disk per CPU model, libtorch, thread count, ISA
/// cap and shape set, so a later run with the same model only reads a file. AVBERT_CONV_CHECK=off skips the check,
/// =force ignores the cache.
/// </summary>
public sealed class ConvolutionGuard
{
    public const string ModeVariable = "AVBERT_CONV_CHECK";

    /// <summary>The guard every model construction goes through.</summary>
    public static ConvolutionGuard Default { get; } = new(
        ConvolutionCheck.Run, new LibTorchOneDnnSwitch(), DefaultCacheDirectory(), line => Console.Error.WriteLine(line),
        () => Environment.GetEnvironmentVariable(ModeVariable), MachineIdentity);

    readonly Func<IReadOnlyList<ConvShape>, ConvCheckResult> check;
    readonly IOneDnnSwitch oneDnn;
    readonly Action<string> note;
    readonly Func<string?> modeSetting;
    readonly Func<string> machine;
    readonly object gate = new();
    readonly Dictionary<string, ConvShape> seen = new();

    /// <param name="check">the known-answer check (tests inject verdicts)</param>
    /// <param name="oneDnn">the oneDNN switch the workaround turns off</param>
    /// <param name="cacheDirectory">where verdicts are kept; null keeps none</param>
    /// <param name="note">where the one line about a workaround goes (stderr)</param>
    /// <param name="modeSetting">the value of AVBERT_CONV_CHECK</param>
    /// <param name="machine">what identifies the machine and libtorch in the cache key</param>
    public ConvolutionGuard(Func<IReadOnlyList<ConvShape>, ConvCheckResult> check, IOneDnnSwitch oneDnn, string? cacheDirectory,
                            Action<string> note, Func<string?> modeSetting, Func<string> machine)
    {
        (this.check, this.oneDnn, CacheDirectory, this.note, this.modeSetting, this.machine) =
            (check, oneDnn, cacheDirectory, note, modeSetting, machine);
    }

    /// <summary>The oneDNN ISA cap in force and whether we set it (tests inject it).</summary>
    internal Func<(string? Cap, bool Ours)> IsaCap { get; init; } = () => (TorchRuntime.OneDnnIsaCap, TorchRuntime.OneDnnIsaCapIsOurs);

    /// <summary>The cap a later run tries after oneDNN failed at its full ISA.</summary>
    public const string FallbackIsa = "AVX2";

    /// <summary>Where verdicts are cached (null: nowhere).</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>What the guard found and did, for `avbert info`.</summary>
    public string Verdict { get; private set; } = "not checked yet (checked when a model is built)";

    /// <summary>oneDNN failed and ATen's convolutions are in use.</summary>
    public bool UsingAtenConvolutions { get; private set; }

    /// <summary>Checks the shape classes not checked yet in this process; switches to ATen's convolutions if needed.</summary>
    public void Ensure(IEnumerable<ConvShape> shapes)
    {
        lock (gate)
        {
            var mode = Mode();
            if (mode == "off")
            {
                Verdict = $"not checked ({ModeVariable}=off)";
                return;
            }
            var fresh = shapes.Where(s => !seen.ContainsKey(s.Key)).DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
            if (fresh.Count == 0) return;
            foreach (var s in fresh) seen[s.Key] = s;

            string key = CacheKey(fresh);
            if (mode != "force" && ReadCache(key) is { } cached)
            {
                Apply(cached, fromCache: true);
                return;
            }
            var outcome = Decide(fresh);
            WriteCache(key, outcome);
            Apply(outcome, fromCache: false);
        }
    }

    /// <summary>What a check of a shape set concluded. Outcome: "onednn-passed", "aten-passed" (oneDNN was already off)
    /// or "onednn-failed" (then ATen's convolutions passed).</summary>
    internal sealed record CacheEntry(string Key, string Outcome, string Detail, int Classes, double WorstError, string? NextIsa = null);

    /// <summary>After oneDNN failed: without a cap, later runs try <see cref="FallbackIsa"/>; if that was our cap and failed
    /// too, they run uncapped (and take ATen's convolutions from the cache). A cap the user set is left alone.</summary>
    string? RememberIsaCapForLaterRuns()
    {
        var (cap, ours) = IsaCap();
        string? next = cap is null ? FallbackIsa : ours ? "none" : null;
        if (next is null || CacheDirectory is null) return null;
        var key = machine();
        WriteJson(Path.Combine(CacheDirectory, "isa-" + Hash(key) + ".json"), new IsaMemory(key, next));
        return next == "none" ? null : next;
    }

    internal sealed record IsaMemory(string Key, string Cap);

    /// <summary>The ISA cap remembered for this machine and libtorch (null: none), read by
    /// <see cref="TorchRuntime.Initialize"/> before oneDNN first runs.</summary>
    public static string? RememberedIsaCap(string? cacheDirectory = null, string? machineKey = null)
    {
        if (Environment.GetEnvironmentVariable(ModeVariable)?.Trim().ToLowerInvariant() == "off") return null;
        cacheDirectory ??= DefaultCacheDirectory();
        if (cacheDirectory is null) return null;
        machineKey ??= MachineIdentity();
        var m = ReadJson<IsaMemory>(Path.Combine(cacheDirectory, "isa-" + Hash(machineKey) + ".json"));
        return m is not null && m.Key == machineKey && m.Cap is "AVX2" or "AVX" or "SSE41" ? m.Cap : null;
    }

    CacheEntry Decide(List<ConvShape> fresh)
    {
        if (oneDnn.Available && !oneDnn.Enabled || UsingAtenConvolutions)
        {
            var r = check(fresh);
            if (!r.Passed) throw AtenFailed(r);
            return new CacheEntry("", "aten-passed", "", fresh.Count, r.WorstError);
        }
        var first = check(fresh);
        if (first.Passed) return new CacheEntry("", "onednn-passed", "", fresh.Count, first.WorstError);
        if (!oneDnn.Available)
            throw new ConvolutionCheckFailed(
                $"this CPU's float32 convolutions failed the self-check ({first.DescribeFailures()}) and oneDNN cannot be switched off in this libtorch. " +
                $"Fix: set ONEDNN_MAX_CPU_ISA=AVX2 (or SSE41) in the environment, or use another machine; {ModeVariable}=off runs anyway with wrong numbers.");
        oneDnn.Enabled = false;
        var again = check(seen.Values.ToList()); // every class this process uses, now on ATen's convolutions
        if (!again.Passed) throw AtenFailed(again);
        var next = RememberIsaCapForLaterRuns();
        return new CacheEntry("", "onednn-failed", first.DescribeFailures(), seen.Count, again.WorstError, next);
    }

    static ConvolutionCheckFailed AtenFailed(ConvCheckResult r) => new(
        $"this CPU's float32 convolutions failed the self-check even with oneDNN switched off ({r.DescribeFailures()}). " +
        $"Fix: set ONEDNN_MAX_CPU_ISA=SSE41 in the environment, or use another machine; {ModeVariable}=off runs anyway with wrong numbers.");

    void Apply(CacheEntry e, bool fromCache)
    {
        string how = fromCache ? "checked, cached" : "checked";
        switch (e.Outcome)
        {
            case "onednn-passed":
                if (UsingAtenConvolutions) break;
                var (cap, ours) = IsaCap();
                string capped = cap is null ? "" : $" capped at {cap}{(ours ? " (chosen for this CPU)" : "")}";
                if (ours && !Verdict.Contains("capped"))
                    note($"note: this CPU's oneDNN float32 convolutions failed the self-check at its full ISA in an earlier run; oneDNN capped at {cap} instead ({how})");
                Verdict = $"oneDNN{capped} passed the self-check ({seen.Count} shape classes, worst error {e.WorstError:0.#e+0}; {how})";
                break;
            case "aten-passed":
                Verdict = UsingAtenConvolutions ? Verdict : $"oneDNN off; ATen's convolutions passed the self-check ({how})";
                break;
            case "onednn-failed":
                if (oneDnn.Available && oneDnn.Enabled) oneDnn.Enabled = false;
                if (!UsingAtenConvolutions)
                {
                    UsingAtenConvolutions = true;
                    Verdict = $"oneDNN failed the self-check ({e.Detail}); using ATen's convolutions ({how})";
                    string next = e.NextIsa is null || fromCache ? "" : $"; the next run tries oneDNN capped at {e.NextIsa}";
                    note($"note: this CPU's oneDNN float32 convolutions failed the self-check ({e.Detail}); using ATen's convolutions instead ({how}){next}");
                }
                break;
        }
    }

    string Mode()
    {
        var v = modeSetting()?.Trim().ToLowerInvariant();
        return v switch
        {
            null or "" or "auto" or "on" => "auto",
            "off" or "force" => v,
            _ => throw new UserError($"{ModeVariable}={modeSetting()}: expected auto (the default), force (check again, ignoring the cache) or off (no check)."),
        };
    }

    internal string CacheKey(IEnumerable<ConvShape> shapes) =>
        $"{machine()}; threads={TorchSharp.torch.get_num_threads()}; " +
        $"ONEDNN_MAX_CPU_ISA={IsaCap().Cap ?? "-"}; " +
        $"onednn={(UsingAtenConvolutions || oneDnn.Available && !oneDnn.Enabled ? "off" : "on")}; check=v1 tol={ConvolutionCheck.Tolerance}; " +
        $"shapes={string.Join(" | ", shapes.Select(s => s.Key))}";

    string? CacheFile(string key) => CacheDirectory is null ? null
        : Path.Combine(CacheDirectory, Hash(key) + ".json");

    static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..24].ToLowerInvariant();

    CacheEntry? ReadCache(string key)
    {
        var e = CacheFile(key) is { } file ? ReadJson<CacheEntry>(file) : null;
        return e is not null && e.Key == key && e.Outcome is "onednn-passed" or "aten-passed" or "onednn-failed" ? e : null;
    }

    void WriteCache(string key, CacheEntry outcome)
    {
        if (CacheFile(key) is { } file) WriteJson(file, outcome with { Key = key });
    }

    /// <summary>null when missing, unreadable or corrupt (then the caller checks again and rewrites it).</summary>
    static T? ReadJson<T>(string file) where T : class
    {
        try { return File.Exists(file) ? JsonSerializer.Deserialize<T>(File.ReadAllText(file)) : null; }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or NotSupportedException) { return null; }
    }

    /// <summary>Atomic (a temporary file renamed over the old one); a cache that cannot be written is no cache.</summary>
    static void WriteJson<T>(string file, T value)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            var tmp = $"{file}.{Environment.ProcessId}.tmp";
            File.WriteAllText(tmp, JsonSerializer.Serialize(value));
            File.Move(tmp, file, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>$XDG_CACHE_HOME/avbert/conv-check, else ~/.cache/avbert/conv-check; null without a home.</summary>
    public static string? DefaultCacheDirectory() => UserCache.Directory("conv-check");

    /// <summary>The CPU model and its feature flags (hashed), and the libtorch_cpu.so in use (path, size, time).</summary>
    public static string MachineIdentity()
    {
        string model = "unknown", flags = "";
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name") && model == "unknown") model = line[(line.IndexOf(':') + 1)..].Trim();
                if (line.StartsWith("flags") && flags == "") flags = line[(line.IndexOf(':') + 1)..].Trim();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        string lib = "unknown";
        if (TorchRuntime.LoadedLibTorch() is { } dir && new FileInfo(Path.Combine(dir, "libtorch_cpu.so")) is { Exists: true } f)
            lib = $"{f.FullName}:{f.Length}:{f.LastWriteTimeUtc.Ticks}";
        var flagHash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(flags)))[..12];
        return $"cpu={model}; cpu flags={flagHash}; libtorch={lib}";
    }
}
