using System.Text;
using System.Text.Json;
using AvBert.Runtime;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace AvBert.Storage;

/// <summary>What a reader of a safetensors file accepts.</summary>
public sealed record SafetensorsReadOptions
{
    /// <summary>Refuse float tensors holding NaN or ±Inf (model weights: on; data and outputs: off).</summary>
    public bool RequireFinite { get; init; } = true;
}

/// <summary>
/// The one safetensors codec (https://github.com/huggingface/safetensors: an 8-byte little-endian header length, a
/// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the tensors' bytes back to back).
/// Opening a file validates all of it before any tensor is read: the header length against the file size, the JSON,
/// every dtype, shape × dtype size = byte range, ranges inside the data section with no overlap and no gap. Every
/// problem is a <see cref="UserError"/> (exit code 2) naming the file and the tensor. Writing goes through
/// <see cref="AtomicFile"/>.
/// </summary>
public sealed class SafetensorsFile
{
    /// <summary>One tensor's entry in the header.</summary>
    public sealed record Entry(string Name, ScalarType DType, long[] Shape, long Begin, long End);

    /// <summary>Headers larger than this are refused (real ones are a few hundred kB for thousands of tensors).</summary>
    public const long MaxHeaderBytes = 100L << 20;

    const string MetadataKey = "__metadata__";

    SafetensorsFile(string path, IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string> metadata, long dataStart)
    {
        Path = path;
        Entries = entries;
        Metadata = metadata;
        _dataStart = dataStart;
        _byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    readonly long _dataStart;
    readonly Dictionary<string, Entry> _byName;

    public string Path { get; }
    /// <summary>The tensors in file order.</summary>
    public IReadOnlyList<Entry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public bool Contains(string name) => _byName.ContainsKey(name);
    public Entry this[string name] => _byName.TryGetValue(name, out var e) ? e : throw new UserError($"{Path}: no tensor '{name}' (has: {Names()}).");

    string Names() => Entries.Count == 0 ? "none" : string.Join(", ", Entries.Take(8).Select(e => e.Name)) + (Entries.Count > 8 ? $", ... ({Entries.Count} in all)" : "");

    /// <summary>Reads and validates the header of <paramref name="path"/>.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (Directory.Exists(path)) throw new UserError($"{path}: is a folder, not a safetensors file.");
        if (!File.Exists(path)) throw new UserError($"{path}: file not found.");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long size = fs.Length;
        string Bad(string what) => $"{path}: not a valid safetensors file: {what}.";
        if (size < 8) throw new UserError(Bad($"{size} bytes, shorter than the 8-byte header length (truncated or empty)"));
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong headerLen = BitConverter.ToUInt64(lenBytes);
        if (headerLen < 2 || headerLen > (ulong)(size - 8))
            throw new UserError(Bad($"the header claims {headerLen:N0} bytes but the file has {size - 8:N0} after the length (truncated, or not safetensors)"));
        if (headerLen > MaxHeaderBytes)
            throw new UserError(Bad($"the header claims {headerLen:N0} bytes (more than {MaxHeaderBytes:N0})"));
        var header = new byte[headerLen];
        fs.ReadExactly(header);
        long dataStart = 8 + (long)headerLen, dataLength = size - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new UserError(Bad($"the header is not well-formed JSON ({e.Message.Split('.')[0]})"), e); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new UserError(Bad("the header is not a JSON object"));

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(p.Name)) throw new UserError(Bad($"tensor '{p.Name}' appears twice in the header"));
            if (p.Name == MetadataKey)
            {
                if (p.Value.ValueKind != JsonValueKind.Object) throw new UserError(Bad("__metadata__ is not an object of strings"));
                foreach (var m in p.Value.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw new UserError(Bad($"__metadata__ '{m.Name}' is not a string"));
                continue;
            }
            entries.Add(ParseEntry(p, dataLength, Bad));
        }
        // Byte ranges: back to back from 0 to the end of the file, in some order (no overlap, no gap, nothing after).
        long expected = 0;
        Entry? previous = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < expected)
                throw new UserError(Bad($"tensor '{e.Name}' (bytes {e.Begin}–{e.End}) overlaps tensor '{previous!.Name}' (bytes {previous.Begin}–{previous.End})"));
            if (e.Begin > expected)
                throw new UserError(Bad($"{e.Begin - expected} unused bytes before tensor '{e.Name}' (bytes {e.Begin}–{e.End}; the previous tensor ends at {expected})"));
            expected = e.End;
            previous = e;
        }
        if (expected != dataLength)
            throw new UserError(Bad($"the data section has {dataLength:N0} bytes but the tensors cover {expected:N0}"));
        return new SafetensorsFile(path, entries, metadata, dataStart);
    }

    static Entry ParseEntry(JsonProperty p, long dataLength, Func<string, string> bad)
    {
        var name = p.Name;
        string What(string s) => bad($"tensor '{name}': {s}");
        var v = p.Value;
        if (v.ValueKind != JsonValueKind.Object) throw new UserError(What("its header entry is not an object"));
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw new UserError(What("no dtype"));
        var dtypeName = dt.GetString()!;
        var dtype = FromName(dtypeName) ?? throw new UserError(What($"unknown or unsupported dtype '{dtypeName}' (supported: {string.Join(", ", DTypeNames.Keys)})"));
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw new UserError(What("no shape"));
        var shape = new List<long>();
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var n) || n < 0) throw new UserError(What($"bad shape {sh.GetRawText()}"));
            shape.Add(n);
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new UserError(What("no data_offsets [begin, end]"));
        long[] o = new long[2];
        int i = 0;
        foreach (var x in off.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out o[i]) || o[i] < 0) throw new UserError(What($"bad data_offsets {off.GetRawText()}"));
            i++;
        }
        if (o[1] < o[0]) throw new UserError(What($"data_offsets {off.GetRawText()} end before they begin"));
        if (o[1] > dataLength) throw new UserError(What($"bytes {o[0]}–{o[1]} lie outside the data section ({dataLength:N0} bytes; truncated file?)"));
        long bytes;
        try { bytes = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * ElementSize(dtype)); }
        catch (OverflowException) { throw new UserError(What($"shape {sh.GetRawText()} is too large")); }
        if (bytes != o[1] - o[0])
            throw new UserError(What($"shape [{string.Join(", ", shape)}] of {dtypeName} needs {bytes:N0} bytes but data_offsets give {o[1] - o[0]:N0}"));
        return new Entry(name, dtype, [.. shape], o[0], o[1]);
    }

    /// <summary>
    /// Reads one tensor (CPU). With <paramref name="expected"/> its dtype must be that one (no silent conversion).
    /// </summary>
    public Tensor Read(string name, ScalarType? expected = null, SafetensorsReadOptions? options = null)
    {
        var e = this[name];
        if (expected is { } want && want != e.DType)
            throw new UserError($"{Path}: tensor '{name}' is {Name(e.DType)} but {Name(want)} is needed.");
        var t = empty(e.Shape, e.DType);
        try
        {
            long n = e.End - e.Begin;
            if (n > 0)
            {
                if (n > Array.MaxLength) throw new UserError($"{Path}: tensor '{name}' has {n:N0} bytes, more than one read can take.");
                var buffer = new byte[n];
                using (SafeFileHandle h = File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.Read))
                {
                    if (RandomAccess.GetLength(h) < _dataStart + e.End)
                        throw new UserError($"{Path}: tensor '{name}': the file was cut short while being read.");
                    int read = 0;
                    while (read < n)
                    {
                        int k = RandomAccess.Read(h, buffer.AsSpan(read), _dataStart + e.Begin + read);
                        if (k == 0) throw new UserError($"{Path}: tensor '{name}': the file was cut short while being read.");
                        read += k;
                    }
                }
                t.bytes = buffer;
            }
            if ((options ?? new SafetensorsReadOptions()).RequireFinite && t.is_floating_point())
            {
                using var finite = isfinite(t);
                long bad = t.numel() - finite.sum().item<long>();
                if (bad > 0)
                    throw new UserError($"{Path}: tensor '{name}' holds {bad:N0} non-finite value(s) (NaN or Inf) of {t.numel():N0}: " +
                                               "the weights are damaged (or were saved from a diverged run). Fix: use an earlier checkpoint or re-create the file.");
            }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Reads every tensor of <paramref name="path"/> by name (CPU), in file order.</summary>
    public static Dictionary<string, Tensor> ReadAll(string path, SafetensorsReadOptions? options = null)
    {
        var file = Open(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var e in file.Entries) result[e.Name] = file.Read(e.Name, null, options);
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies the tensors of <paramref name="path"/> into <paramref name="target"/> (e.g. a module's state_dict, on any
    /// device): the same names, shapes and dtypes, else one <see cref="UserError"/> listing the differences and
    /// ending with <paramref name="fix"/>.
    /// </summary>
    public static void LoadInto(IReadOnlyDictionary<string, Tensor> target, string path, string fix, SafetensorsReadOptions? options = null)
    {
        var file = Open(path);
        WeightsMatch.Check(target, file.Entries.ToDictionary(e => e.Name, e => new StoredWeight(e.Shape, e.DType), StringComparer.Ordinal), path, fix);
        using var _ = no_grad();
        foreach (var (k, t) in target)
        {
            using var source = file.Read(k, t.dtype, options);
            t.copy_(source);
        }
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (any device; copied to the CPU) as one safetensors file, atomically. The header
    /// is padded with spaces to a multiple of 8 bytes so the data section is aligned, as the reference implementation does.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var scope = NewDisposeScope();
        var list = tensors.Select(kv => (kv.Key, Tensor: kv.Value.detach().cpu().contiguous())).ToList();
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (key, t) in list)
            {
                long length = t.NumberOfElements * t.ElementSize;
                w.WriteStartObject(key);
                w.WriteString("dtype", Name(t.dtype));
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += length;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        var header = ms.ToArray();
        AtomicFile.Write(path, s =>
        {
            s.Write(BitConverter.GetBytes((ulong)header.Length));
            s.Write(header);
            foreach (var (_, t) in list) s.Write(t.bytes);
        });
    }

    static readonly Dictionary<string, ScalarType> DTypeNames = new(StringComparer.Ordinal)
    {
        ["F64"] = ScalarType.Float64, ["F32"] = ScalarType.Float32, ["F16"] = ScalarType.Float16, ["BF16"] = ScalarType.BFloat16,
        ["I64"] = ScalarType.Int64, ["I32"] = ScalarType.Int32, ["I16"] = ScalarType.Int16, ["I8"] = ScalarType.Int8,
        ["U8"] = ScalarType.Byte, ["BOOL"] = ScalarType.Bool,
    };

    static ScalarType? FromName(string name) => DTypeNames.TryGetValue(name, out var t) ? t : null;

    /// <summary>The safetensors name of a dtype ("F32", ...).</summary>
    public static string Name(ScalarType t) =>
        DTypeNames.FirstOrDefault(kv => kv.Value == t).Key ?? throw new NotSupportedException($"safetensors cannot store dtype {t}");

    static long ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };
}
