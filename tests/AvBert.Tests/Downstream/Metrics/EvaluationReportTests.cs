using System.Text.Json;
using AvBert.Downstream.Metrics;

namespace AvBert.Tests.Downstream.Metrics;

public class EvaluationReportTests
{
    [Fact]
    public void Json_has_the_documented_fields_and_null_for_undefined_values()
    {
        float[][] scores = [[0.9f, 0.1f, 0f], [0.2f, 0.8f, 0f], [0.6f, 0.4f, 0f]];
        int[][] labels = [[0], [1], [1]];
        var r = EvaluationReport.Compute(scores, labels, ["dog", "rain", "siren"], multiLabel: false);
        using var doc = JsonDocument.Parse(r.ToJson());
        var root = doc.RootElement;
        Assert.Equal(3, root.GetProperty("n").GetInt32());
        Assert.Equal(2.0 / 3, root.GetProperty("top1").GetDouble(), 5);
        Assert.Equal(1.0, root.GetProperty("top5").GetDouble(), 5);
        Assert.Equal((1.0 + 0.5) / 2, root.GetProperty("mean_class_acc").GetDouble(), 5);
        Assert.False(root.TryGetProperty("mAP", out _));   // single-label: no mAP
        var rain = root.GetProperty("per_class").GetProperty("rain");
        Assert.Equal(2, rain.GetProperty("n").GetInt32());
        Assert.Equal(0.5, rain.GetProperty("acc").GetDouble(), 5);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("per_class").GetProperty("siren").GetProperty("acc").ValueKind);
    }

    [Fact]
    public void Multilabel_report_has_map_and_per_class_ap()
    {
        float[][] scores = [[0.9f, 0.2f], [0.1f, 0.7f]];
        int[][] labels = [[0, 1], [1]];
        var r = EvaluationReport.Compute(scores, labels, ["a", "b"], multiLabel: true);
        using var doc = JsonDocument.Parse(r.ToJson());
        Assert.Equal(1.0, doc.RootElement.GetProperty("mAP").GetDouble(), 5);
        Assert.Equal(1.0, doc.RootElement.GetProperty("per_class").GetProperty("b").GetProperty("ap").GetDouble(), 5);
    }

    [Fact]
    public void Confusion_png_and_table_are_written()
    {
        float[][] scores = [[0.9f, 0.1f], [0.2f, 0.8f], [0.6f, 0.4f]];
        int[][] labels = [[0], [1], [1]];
        var r = EvaluationReport.Compute(scores, labels, ["a", "b"], multiLabel: false);
        var dir = TestSetup.TempDir("report");
        var png = Path.Combine(dir, "confusion.png");
        r.WriteConfusionPng(png);
        var bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        var tsv = Path.Combine(dir, "per_class.tsv");
        r.WritePerClassTsv(tsv);
        Assert.Equal(["class\tn\tacc", "a\t1\t1.0000", "b\t2\t0.5000"], File.ReadAllLines(tsv));
        Assert.Equal(3, r.ToTable().Columns.Count);
    }

    [Fact]
    public void Table_written_to_a_pipe_keeps_each_class_and_the_summary_on_one_line()
    {
        // Long class names and a multi-label summary: wider than the 80 columns a non-terminal console assumes.
        var names = new[] { "a very long class name about dogs barking far away", "another long class name: rain on a tin roof" };
        float[][] scores = [[0.9f, 0.2f], [0.1f, 0.7f], [0.6f, 0.3f]];
        int[][] labels = [[0, 1], [1], [0]];
        var r = EvaluationReport.Compute(scores, labels, names, multiLabel: true);
        var pipe = new StringWriter();
        r.WriteTable(pipe, "fold-2");
        var lines = pipe.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Contains("fold-2: " + r.Summary(), lines);
        Assert.Contains("mean class acc", r.Summary());
        Assert.Contains("mAP", r.Summary());
        foreach (var name in names) Assert.Single(lines, l => l.Contains(name, StringComparison.Ordinal));
        Assert.DoesNotContain('\x1b', pipe.ToString());   // no colour codes in a pipe
    }
}
