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

/// <summary>The convolutions failed the self-check on every rung of the ladder: computing on would crash or give wrong numbers.</summary>
public sealed class ConvolutionCheckFailed(string message) : UserError(message);

/// <summary>
/// Makes sure the float32 CPU convolutions a model uses run and compute correctly on this machine before the model runs
/// them (docs/cpu-correctness.md). <see cref="Ensure"/> walks a ladder of convolution paths, from the fastest
/// down: oneDNN at the CPU's full ISA → capped at AVX2 → capped at SSE4.1 → oneDNN off (ATen's own convolutions). Each
/// rung is checked in a child process (<see cref="ConvolutionProbe"/>) with forward, input-gradient and weight-gradient
/// known-answer checks of every shape class at the input sizes the model really sees; a rung whose child crashes (SIGFPE
/// inside oneDNN), hangs or computes wrongly is recorded as failed with its reason, and the first rung that passes is
/// used. The cap goes into this process's environment before its first convolution (oneDNN reads it once); oneDNN off is
/// libtorch's global switch. Verdicts are cached on disk per CPU model, libtorch, thread count, starting rung and shape
/// set, and the rung chosen is remembered per machine so that later processes start on it (<see cref="RememberedRung"/>).
/// AVBERT_CONV_CHECK=off skips the check, =force ignores the cache and the remembered rung.
/// </summary>
public sealed class ConvolutionGuard
{
    public const string ModeVariable = "AVBERT_CONV_CHECK";

    /// <summary>The guard every model goes through before its first CPU convolution.</summary>
    public static ConvolutionGuard Default { get; } = new(
        (rung, shapes) => ConvolutionProbe.Check(rung, shapes), new LibTorchOneDnnSwitch(), DefaultCacheDirectory(), line => Console.Error.WriteLine(line),
        () => Environment.GetEnvironmentVariable(ModeVariable), MachineIdentity);

    readonly Func<ConvRung, IReadOnlyList<ConvShape>, ConvRungOutcome> probe;
    readonly IOneDnnSwitch oneDnn;
    readonly Action<string> note;
    readonly Func<string?> modeSetting;
    readonly Func<string> machine;
    readonly object gate = new();
    readonly Dictionary<string, ConvShape> seen = new();
    ConvRung? current;
    bool convolutionsRan;

    /// <param name="probe">checks a rung (in a child process; tests inject outcomes)</param>
    /// <param name="oneDnn">the oneDNN switch the last rung turns off</param>
    /// <param name="cacheDirectory">where verdicts are kept; null keeps none</param>
    /// <param name="note">where the one line about a slower path goes (stderr)</param>
    /// <param name="modeSetting">the value of AVBERT_CONV_CHECK</param>
    /// <param name="machine">what identifies the machine and libtorch in the cache key</param>
    public ConvolutionGuard(Func<ConvRung, IReadOnlyList<ConvShape>, ConvRungOutcome> probe, IOneDnnSwitch oneDnn, string? cacheDirectory,
                            Action<string> note, Func<string?> modeSetting, Func<string> machine)
    {
        (this.probe, this.oneDnn, CacheDirectory, this.note, this.modeSetting, this.machine) =
            (probe, oneDnn, cacheDirectory, note, modeSetting, machine);
    }

    /// <summary>The oneDNN ISA cap in force and whether we set it (tests inject it).</summary>
    internal Func<(string? Cap, bool Ours)> IsaCap { get; init; } = () => (TorchRuntime.OneDnnIsaCap, TorchRuntime.OneDnnIsaCapIsOurs);

    /// <summary>Puts a cap into this process's environment, before oneDNN first runs (tests record it).</summary>
    internal Action<string> SetIsaCap { get; init; } = TorchRuntime.SetOneDnnIsaCap;

    /// <summary>Where verdicts are cached (null: nowhere).</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>What the guard found and did, for `avbert info --check`.</summary>
    public string Verdict { get; private set; } = "not checked yet (checked before a model's first CPU convolution)";

    /// <summary>The rung this process's convolutions run on (null until the first check).</summary>
    public ConvRung? Rung => current;

    /// <summary>oneDNN is off and ATen's convolutions are in use.</summary>
    public bool UsingAtenConvolutions => current is { OneDnn: false };

    /// <summary>Checks the shape classes not checked yet in this process and moves down the ladder if needed. Call it
    /// before the convolutions run: a lower ISA cap can take effect only before oneDNN's first use in the process.</summary>
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
            current ??= StartingRung();
            foreach (var s in fresh) seen[s.Key] = s;
            try
            {
                string key = CacheKey(fresh);
                var cached = mode != "force" ? ReadCache(key) : null;
                var entry = cached ?? Decide(fresh);
                if (cached is null) WriteCache(key, entry);
                Apply(entry, fromCache: cached is not null);
            }
            catch
            {
                foreach (var s in fresh) seen.Remove(s.Key);
                throw;
            }
            finally { convolutionsRan = true; }
        }
    }

    /// <summary>The rung this process is on before its first check: oneDNN off, the ISA cap in force (the user's, or the
    /// one <see cref="TorchRuntime"/> set from the remembered rung), or the full ISA.</summary>
    ConvRung StartingRung()
    {
        if (oneDnn.Available && !oneDnn.Enabled) return ConvRung.Off;
        var (cap, ours) = IsaCap();
        return cap is null ? ConvRung.Full : new ConvRung(cap, true, Users: !ours);
    }

    /// <summary>What a check of a shape set concluded: the rung that passed (<see cref="Chosen"/>), the one this process
    /// runs on (<see cref="Applied"/>: oneDNN off when the chosen cap came too late for this process), and why the rungs
    /// above failed.</summary>
    internal sealed record RememberedVerdict(string Key, string Start, string Chosen, string Applied, IReadOnlyList<string> Failures, int Classes,
                                             double WorstError);

    RememberedVerdict Decide(List<ConvShape> fresh)
    {
        var start = current!;
        var failures = new List<string>();
        // The classes seen before were proven on the current rung; a lower rung must prove all of them.
        ConvRungOutcome? Try(ConvRung r)
        {
            if (!r.OneDnn && !oneDnn.Available) return null;
            var o = probe(r, r == start ? fresh : seen.Values.OrderBy(s => s.Key, StringComparer.Ordinal).ToList());
            if (!o.Passed) failures.Add($"{r.Describe()}: {o.Detail}");
            return o;
        }
        var outcome = Try(start);
        ConvRung chosen = start;
        if (outcome is not { Passed: true })
        {
            outcome = null;
            foreach (var r in start.Below())
                if (Try(r) is { Passed: true } o) { (outcome, chosen) = (o, r); break; }
        }
        if (outcome is null)
            throw new ConvolutionCheckFailed(
                $"no convolution path of this CPU passed the self-check ({string.Join("; ", failures)}). " +
                $"Fix: use another machine (docs/cpu-correctness.md); {ModeVariable}=off runs anyway, unchecked.");
        var applied = chosen;
        if (chosen.OneDnn && chosen.Cap != start.Cap && convolutionsRan)
        {
            // oneDNN has already run at the start rung's ISA in this process: a cap now would not take effect.
            var off = Try(ConvRung.Off);
            if (off is not { Passed: true })
                throw new ConvolutionCheckFailed(
                    $"this process's convolutions cannot move to {chosen.Describe()} after they first ran, and oneDNN off failed the self-check " +
                    $"({string.Join("; ", failures)}). Fix: run the command again (it starts on {chosen.Describe()}).");
            applied = ConvRung.Off;
        }
        return new RememberedVerdict("", start.Name, chosen.Name, applied.Name, failures, seen.Count, outcome.WorstError);
    }

    void Apply(RememberedVerdict e, bool fromCache)
    {
        string how = fromCache ? "checked, cached" : "checked";
        var chosen = ConvRung.Parse(e.Chosen) ?? current!;
        var applied = ConvRung.Parse(e.Applied) ?? chosen;
        if (current!.Users && chosen.Name == current.Name) chosen = current;   // the user's own cap: kept, never remembered
        if (current.Users && applied.Name == current.Name) applied = current;
        if (applied.Name != current.Name)
        {
            if (!applied.OneDnn) oneDnn.Enabled = false;
            else if (applied.Cap is { } cap) SetIsaCap(cap);
            current = applied;
        }
        RememberRung(chosen);
        string failed = e.Failures.Count == 0 ? "" : $" ({string.Join("; ", e.Failures)})";
        Verdict = $"{current.Describe()} passed the self-check ({e.Classes} shape classes at the model's input sizes, worst error {e.WorstError:0.#e+0}; {how})" +
                  (e.Failures.Count == 0 ? "" : $"; rungs above it failed{failed}");
        if (e.Failures.Count > 0)
            note($"note: this CPU's faster convolution paths failed the self-check{failed}; using {current.Describe()} ({how})" +
                 (applied.Name != chosen.Name ? $"; the next run starts on {chosen.Describe()}" : ""));
    }

    /// <summary>Later processes on this machine start on the lowest rung any model needed here (never the user's cap).</summary>
    void RememberRung(ConvRung chosen)
    {
        if (CacheDirectory is null || chosen.Users || chosen == ConvRung.Full) return;
        var key = machine();
        var file = Path.Combine(CacheDirectory, "rung-" + Hash(key) + ".json");
        var before = ReadJson<RungMemory>(file) is { } m && m.Key == key ? ConvRung.Parse(m.Rung) : null;
        if (before is not null && Order(before) >= Order(chosen)) return;
        WriteJson(file, new RungMemory(key, chosen.Name));
    }

    static int Order(ConvRung r) => !r.OneDnn ? 3 : r.Cap is null ? 0 : Array.IndexOf(ConvRung.Caps, r.Cap) + 1;

    internal sealed record RungMemory(string Key, string Rung);

    /// <summary>The rung remembered for this machine and libtorch (null: none, or AVBERT_CONV_CHECK is off or force), read
    /// by <see cref="TorchRuntime.Initialize"/> before oneDNN first runs.</summary>
    public static ConvRung? RememberedRung(string? cacheDirectory = null, string? machineKey = null)
    {
        if (Environment.GetEnvironmentVariable(ModeVariable)?.Trim().ToLowerInvariant() is "off" or "force") return null;
        cacheDirectory ??= DefaultCacheDirectory();
        if (cacheDirectory is null) return null;
        machineKey ??= MachineIdentity();
        var m = ReadJson<RungMemory>(Path.Combine(cacheDirectory, "rung-" + Hash(machineKey) + ".json"));
        return m is not null && m.Key == machineKey ? ConvRung.Parse(m.Rung) : null;
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
        $"start={(current ?? StartingRung()).Name}; ran={convolutionsRan}; check=v2 tol={ConvolutionCheck.Tolerance}; " +
        $"shapes={string.Join(" | ", shapes.Select(s => s.Key))}";

    string? CacheFile(string key) => CacheDirectory is null ? null
        : Path.Combine(CacheDirectory, Hash(key) + ".json");

    static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..24].ToLowerInvariant();

    RememberedVerdict? ReadCache(string key)
    {
        var e = CacheFile(key) is { } file ? ReadJson<RememberedVerdict>(file) : null;
        return e is not null && e.Key == key && ConvRung.Parse(e.Chosen) is not null && ConvRung.Parse(e.Applied) is not null ? e : null;
    }

    void WriteCache(string key, RememberedVerdict outcome)
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
