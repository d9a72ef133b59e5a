namespace AvBert.Training;

/// <summary>PNG charts of logged metrics (ScottPlot): one line per series against the optimiser step.</summary>
public static class CurvePlots
{
    /// <summary>
    /// Plots the series of <paramref name="rows"/> whose name passes <paramref name="include"/> (default: names starting
    /// with "loss") into a PNG. Returns false (and writes nothing) when there is nothing to plot.
    /// </summary>
    public static bool Save(IReadOnlyList<MetricsRow> rows, string pngPath, Func<string, bool>? include = null,
                            string title = "training loss", int width = 900, int height = 540)
    {
        include ??= name => name.StartsWith("loss", StringComparison.Ordinal);
        var names = rows.SelectMany(r => r.Values.Keys).Distinct().Where(include).ToList();
        if (rows.Count == 0 || names.Count == 0) return false;
        var plot = new ScottPlot.Plot();
        foreach (var name in names)
        {
            var pts = rows.Where(r => r.Values.TryGetValue(name, out var v) && double.IsFinite(v)).ToList();
            if (pts.Count == 0) continue;
            var xs = pts.Select(r => (double)r.Step).ToArray();
            var ys = pts.Select(r => r.Values[name]).ToArray();
            var line = plot.Add.ScatterLine(xs, ys);
            line.LegendText = name;
            line.LineWidth = name == "loss" ? 2.5f : 1.5f;
            line.MarkerSize = pts.Count < 30 ? 4 : 0;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("value");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(pngPath))!);
        AvBert.Storage.AtomicFile.WriteVia(pngPath, tmp => plot.SavePng(tmp, width, height));
        return true;
    }
}
