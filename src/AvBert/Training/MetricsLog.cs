using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AvBert.Storage;

namespace AvBert.Training;

/// <summary>One logged point: the optimiser step and named values (losses, lr, rates, ...).</summary>
public sealed record MetricsRow(long Step, IReadOnlyDictionary<string, double> Values);

/// <summary>
/// Metrics of a run in three forms: DIR/metrics.jsonl (one JSON object per point: {"step": N, "name": value, ...}),
/// DIR/metrics.csv (same; a point with new names widens the table, earlier rows get empty cells) and TensorBoard event files under DIR/tb/. Opening with
/// <c>resumeStep</c> keeps the rows up to that step and drops the later ones a killed run had logged past its last
/// checkpoint, so a resumed run's logs read as if it had never stopped.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    readonly string _jsonl, _csv;
    readonly TorchSharp.Modules.SummaryWriter? _tb;
    readonly List<string> _csvColumns = [];
    readonly List<MetricsRow> _rows = [];
    readonly StreamWriter _jsonWriter;
    StreamWriter _csvWriter;

    public MetricsLog(string directory, long? resumeStep = null, bool tensorboard = true)
    {
        Directory.CreateDirectory(directory);
        _jsonl = Path.Combine(directory, "metrics.jsonl");
        _csv = Path.Combine(directory, "metrics.csv");
        if (resumeStep is long keep && File.Exists(_jsonl))
            _rows.AddRange(Read(_jsonl).Where(r => r.Step <= keep));
        AtomicFile.WriteAllLines(_jsonl, _rows.Select(ToJson));
        foreach (var r in _rows) AddColumns(r);
        _csvWriter = RewriteCsv();
        // Rows are appended one line at a time (a line cut by a kill is skipped by Read), not rewritten through AtomicFile.
        _jsonWriter = new StreamWriter(new FileStream(_jsonl, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        if (tensorboard) _tb = TorchSharp.torch.utils.tensorboard.SummaryWriter(Path.Combine(directory, "tb"));
    }

    public string JsonlPath => _jsonl;
    public string CsvPath => _csv;

    public void Write(long step, IReadOnlyDictionary<string, double> values)
    {
        var row = new MetricsRow(step, values);
        _jsonWriter.WriteLine(ToJson(row));
        _rows.Add(row);
        if (AddColumns(row))
        {
            _csvWriter.Dispose();
            _csvWriter = RewriteCsv();
        }
        else _csvWriter.WriteLine(CsvLine(row, _csvColumns));
        if (_tb is not null)
            foreach (var (k, v) in values)
                if (double.IsFinite(v)) _tb.add_scalar(k, (float)v, (int)Math.Min(step, int.MaxValue));
    }

    bool AddColumns(MetricsRow r)
    {
        bool added = false;
        foreach (var k in r.Values.Keys)
            if (!_csvColumns.Contains(k)) { _csvColumns.Add(k); added = true; }
        return added;
    }

    /// <summary>Rewrites metrics.csv whole (through AtomicFile: a new column changes every line) and opens it for the
    /// appends of the rows that follow.</summary>
    StreamWriter RewriteCsv()
    {
        var sb = new StringBuilder();
        if (_csvColumns.Count > 0)
        {
            sb.Append(CsvHeader(_csvColumns));
            foreach (var r in _rows) sb.Append(CsvLine(r, _csvColumns)).Append(Environment.NewLine);
        }
        AtomicFile.WriteAllText(_csv, sb.ToString());
        return new StreamWriter(new FileStream(_csv, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
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
