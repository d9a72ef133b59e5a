using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AvBert.Training;

/// <summary>One logged point: the optimiser step and named values (losses, lr, rates, ...).</summary>
public sealed record MetricsRow(long Step, IReadOnlyDictionary<string, double> Values);

/// <summary>
/// Metrics of a run in three forms: DIR/metrics.jsonl (one JSON object per point: {"step": N, "name": value, ...}),
/// DIR/metrics.csv (same, columns fixed by the first point) and TensorBoard event files under DIR/tb/. Opening with
/// <c>resumeStep</c> keeps the rows up to that step and drops the later ones a killed run had logged past its last
/// checkpoint, so a resumed run's logs read as if it had never stopped.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    readonly string _jsonl, _csv;
    readonly TorchSharp.Modules.SummaryWriter? _tb;
    List<string>? _csvColumns;
    readonly StreamWriter _jsonWriter, _csvWriter;

    public MetricsLog(string directory, long? resumeStep = null, bool tensorboard = true)
    {
        Directory.CreateDirectory(directory);
        _jsonl = Path.Combine(directory, "metrics.jsonl");
        _csv = Path.Combine(directory, "metrics.csv");
        if (resumeStep is long keep)
        {
            var rows = File.Exists(_jsonl) ? Read(_jsonl).Where(r => r.Step <= keep).ToList() : [];
            File.WriteAllLines(_jsonl, rows.Select(ToJson));
            if (rows.Count > 0) _csvColumns = rows[0].Values.Keys.ToList();
            File.WriteAllText(_csv, _csvColumns is null ? "" : CsvHeader(_csvColumns) + string.Concat(rows.Select(r => CsvLine(r, _csvColumns) + "\n")));
        }
        else
        {
            File.WriteAllText(_jsonl, "");
            File.WriteAllText(_csv, "");
        }
        _jsonWriter = new StreamWriter(new FileStream(_jsonl, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        _csvWriter = new StreamWriter(new FileStream(_csv, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        if (tensorboard) _tb = TorchSharp.torch.utils.tensorboard.SummaryWriter(Path.Combine(directory, "tb"));
    }

    public string JsonlPath => _jsonl;
    public string CsvPath => _csv;

    public void Write(long step, IReadOnlyDictionary<string, double> values)
    {
        var row = new MetricsRow(step, values);
        _jsonWriter.WriteLine(ToJson(row));
        if (_csvColumns is null)
        {
            _csvColumns = values.Keys.ToList();
            _csvWriter.Write(CsvHeader(_csvColumns));
        }
        _csvWriter.WriteLine(CsvLine(row, _csvColumns));
        if (_tb is not null)
            foreach (var (k, v) in values)
                if (double.IsFinite(v)) _tb.add_scalar(k, (float)v, (int)Math.Min(step, int.MaxValue));
    }

    /// <summary>Reads a metrics.jsonl file.</summary>
    public static List<MetricsRow> Read(string jsonlPath)
    {
        var rows = new List<MetricsRow>();
        foreach (var line in File.ReadLines(jsonlPath))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonObject? obj;
            try { obj = JsonNode.Parse(line) as JsonObject; }
            catch (JsonException) { continue; } // a line cut by a kill
            if (obj is null || obj["step"] is null) continue;
            var values = new Dictionary<string, double>();
            foreach (var (k, v) in obj)
                if (k != "step" && v is JsonValue jv && jv.TryGetValue<double>(out var d)) values[k] = d;
            rows.Add(new MetricsRow(obj["step"]!.GetValue<long>(), values));
        }
        return rows;
    }

    static string ToJson(MetricsRow r)
    {
        var sb = new StringBuilder();
        sb.Append("{\"step\": ").Append(r.Step.ToString(CultureInfo.InvariantCulture));
        foreach (var (k, v) in r.Values)
            sb.Append(", ").Append(JsonSerializer.Serialize(k)).Append(": ").Append(double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "null");
        return sb.Append('}').ToString();
    }

    static string CsvHeader(List<string> cols) => "step," + string.Join(",", cols) + "\n";

    static string CsvLine(MetricsRow r, List<string> cols) =>
        r.Step.ToString(CultureInfo.InvariantCulture) + "," +
        string.Join(",", cols.Select(c => r.Values.TryGetValue(c, out var v) && double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : ""));

    public void Dispose()
    {
        _jsonWriter.Dispose();
        _csvWriter.Dispose();
    }
}
