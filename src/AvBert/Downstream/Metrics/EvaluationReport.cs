using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace AvBert.Downstream.Metrics;

/// <summary>One class's line of the report.</summary>
/// <param name="Count">Videos labelled with this class.</param>
/// <param name="Accuracy">Of those videos, the fraction whose top-1 class is one of their labels (NaN without videos).</param>
/// <param name="AveragePrecision">AP of the class (multi-label only, else null; NaN without positives).</param>
public sealed record ClassResult(string Name, int Count, double Accuracy, double? AveragePrecision);

/// <summary>
/// Every number `eval` reports, computed from video-level scores: top-1, top-5, mean per-class accuracy, mAP
/// (multi-label), per-class lines and the confusion matrix. Writes metrics.json, the confusion-matrix PNG, a
/// per-class TSV and a console table.
/// </summary>
public sealed record EvaluationReport(
    int Count, double Top1, double Top5, double MeanClassAccuracy, double? MeanAveragePrecision,
    IReadOnlyList<ClassResult> PerClass, int[,] Confusion)
{
    public static EvaluationReport Compute(IReadOnlyList<float[]> scores, IReadOnlyList<int[]> labels, IReadOnlyList<string> classNames, bool multiLabel)
    {
        int c = classNames.Count;
        if (scores.Any(r => r.Length != c))
            throw new ArgumentException($"score rows must have {c} entries (one per class).");
        var acc = ClassificationMetrics.PerClassAccuracy(scores, labels, c);
        var ap = multiLabel ? ClassificationMetrics.PerClassAveragePrecision(scores, labels, c) : null;
        var counts = new int[c];
        foreach (var l in labels) foreach (var k in l.Distinct()) counts[k]++;
        var perClass = Enumerable.Range(0, c).Select(k => new ClassResult(classNames[k], counts[k], acc[k], ap?[k])).ToList();
        return new EvaluationReport(
            scores.Count,
            ClassificationMetrics.TopK(scores, labels, 1),
            ClassificationMetrics.TopK(scores, labels, 5),
            ClassificationMetrics.MeanClassAccuracy(scores, labels, c),
            multiLabel ? ClassificationMetrics.MeanAveragePrecision(scores, labels, c) : null,
            perClass,
            ClassificationMetrics.ConfusionMatrix(scores, labels, c));
    }

    /// <summary>{"n", "top1", "top5", "mean_class_acc", "mAP" (multi-label only), "per_class": {name: {"n", "acc", "ap"}}}; NaN is null.</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("n", Count);
            Number(w, "top1", Top1);
            Number(w, "top5", Top5);
            Number(w, "mean_class_acc", MeanClassAccuracy);
            if (MeanAveragePrecision is { } map) Number(w, "mAP", map);
            w.WriteStartObject("per_class");
            foreach (var r in PerClass)
            {
                w.WriteStartObject(r.Name);
                w.WriteNumber("n", r.Count);
                Number(w, "acc", r.Accuracy);
                if (r.AveragePrecision is { } a) Number(w, "ap", a);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";

        static void Number(Utf8JsonWriter w, string name, double v)
        {
            if (double.IsNaN(v)) w.WriteNull(name);
            else w.WriteNumber(name, Math.Round(v, 6));
        }
    }

    public void WriteJson(string path) => AtomicWrite(path, ToJson());

    /// <summary>Per-class table as TSV: class, n, acc[, ap].</summary>
    public void WritePerClassTsv(string path)
    {
        var sb = new StringBuilder(MeanAveragePrecision is null ? "class\tn\tacc\n" : "class\tn\tacc\tap\n");
        foreach (var r in PerClass)
        {
            sb.Append(r.Name).Append('\t').Append(r.Count).Append('\t').Append(Format(r.Accuracy));
            if (r.AveragePrecision is { } a) sb.Append('\t').Append(Format(a));
            sb.Append('\n');
        }
        AtomicWrite(path, sb.ToString());
    }

    /// <summary>The summary as one line: "n=34  top-1 0.7647  top-5 1.0000  mean class acc 0.7500[  mAP ...]".</summary>
    public string Summary() =>
        $"n={Count}  top-1 {Format(Top1)}  top-5 {Format(Top5)}  mean class acc {Format(MeanClassAccuracy)}" +
        (MeanAveragePrecision is { } map ? $"  mAP {Format(map)}" : "");

    /// <summary>The per-class lines as a Spectre.Console table (class, n, acc[, AP]).</summary>
    public Table ToTable()
    {
        var t = new Table().Border(TableBorder.Rounded);
        t.AddColumn("class");
        t.AddColumn(new TableColumn("n").RightAligned());
        t.AddColumn(new TableColumn("acc").RightAligned());
        if (MeanAveragePrecision is not null) t.AddColumn(new TableColumn("AP").RightAligned());
        foreach (var r in PerClass)
        {
            var cells = new List<string> { Markup.Escape(r.Name), r.Count.ToString(CultureInfo.InvariantCulture), Format(r.Accuracy) };
            if (r.AveragePrecision is { } a) cells.Add(Format(a));
            t.AddRow(cells.ToArray());
        }
        return t;
    }

    /// <summary>
    /// Writes the per-class table and then <see cref="Summary"/> on a line of its own. On a terminal the table fits its
    /// width; anywhere else (a pipe, a log file) nothing is wrapped, so every class and the summary stay one line each.
    /// </summary>
    public void WriteTable(TextWriter writer, string? title = null)
    {
        var output = new AnsiConsoleOutput(writer);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = output, Interactive = InteractionSupport.No,
            Ansi = output.IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = output.IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!output.IsTerminal) console.Profile.Width = 10_000;
        var table = ToTable();
        if (title is not null) table.Title = new TableTitle(Markup.Escape(title));
        console.Write(table);
        writer.WriteLine((title is null ? "" : title + ": ") + Summary());
    }

    /// <summary>Confusion matrix as a PNG heatmap, rows = true class, columns = predicted class, each row normalised.</summary>
    public void WriteConfusionPng(string path)
    {
        int c = PerClass.Count;
        var norm = new double[c, c];
        for (int i = 0; i < c; i++)
        {
            double rowSum = 0;
            for (int j = 0; j < c; j++) rowSum += Confusion[i, j];
            for (int j = 0; j < c; j++) norm[i, j] = rowSum == 0 ? double.NaN : Confusion[i, j] / rowSum;
        }
        var plt = new ScottPlot.Plot();
        var hm = plt.Add.Heatmap(norm);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        hm.ManualRange = new ScottPlot.Range(0, 1);
        plt.Add.ColorBar(hm);
        plt.Title($"Confusion matrix (n={Count}, top-1 {Format(Top1)})");
        plt.XLabel("predicted class");
        plt.YLabel("true class");
        // The heatmap draws row 0 at the top: cell (i, j) is centred at x = j, y = c − 1 − i.
        if (c <= 40)
        {
            var positions = Enumerable.Range(0, c).Select(i => (double)i).ToArray();
            var names = PerClass.Select(r => r.Name.Length > 16 ? r.Name[..15] + "…" : r.Name).ToArray();
            plt.Axes.Bottom.SetTicks(positions, names);
            plt.Axes.Bottom.TickLabelStyle.Rotation = -45;
            plt.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleRight;
            plt.Axes.Left.SetTicks(positions.Select(p => c - 1 - p).ToArray(), names);
        }
        int side = Math.Clamp(200 + 18 * c, 500, 2400);
        AvBert.Storage.AtomicFile.WriteVia(path, tmp => plt.SavePng(tmp, side + 120, side));
    }

    static string Format(double v) => double.IsNaN(v) ? "-" : v.ToString("0.0000", CultureInfo.InvariantCulture);

    static void AtomicWrite(string path, string text) => AvBert.Storage.AtomicFile.WriteAllText(path, text);
}
