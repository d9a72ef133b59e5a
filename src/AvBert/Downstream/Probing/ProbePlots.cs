namespace AvBert.Downstream.Probing;

/// <summary>PNG bar charts of probe results (ScottPlot): groups on the x axis (e.g. visual, audio, audio-visual), one
/// coloured bar per series (e.g. random init, pretrained), values as fractions shown in percent, a dashed chance line.</summary>
public static class ProbePlots
{
    public static void SaveBars(string pngPath, string title, IReadOnlyList<string> groups,
                                IReadOnlyList<(string Series, double[] Values)> series, double? chance = null,
                                int width = 900, int height = 540, string yLabel = "accuracy / R@1 (%)")
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        double barWidth = 0.8 / Math.Max(1, series.Count);
        for (int s = 0; s < series.Count; s++)
        {
            var color = palette.GetColor(s);
            var bars = new List<ScottPlot.Bar>();
            for (int g = 0; g < groups.Count; g++)
            {
                double v = series[s].Values[g];
                bars.Add(new ScottPlot.Bar
                {
                    Position = g + (s - (series.Count - 1) / 2.0) * barWidth,
                    Value = 100 * v,
                    Size = barWidth * 0.95,
                    FillColor = color,
                    Label = $"{100 * v:0.0}",
                });
            }
            var bp = plot.Add.Bars(bars);
            bp.ValueLabelStyle.FontSize = 12;
            plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = series[s].Series, FillColor = color });
        }
        if (chance is { } c)
        {
            var line = plot.Add.HorizontalLine(100 * c);
            line.LinePattern = ScottPlot.LinePattern.Dashed;
            line.Color = ScottPlot.Colors.Gray;
            plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = $"chance ({100 * c:0.#}%)", LineColor = ScottPlot.Colors.Gray, LineWidth = 2, LinePattern = ScottPlot.LinePattern.Dashed });
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, groups.Count).Select(i => (double)i).ToArray(), groups.ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsY(0, 105);
        plot.Title(title);
        plot.YLabel(yLabel);
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(pngPath))!);
        AvBert.Storage.AtomicFile.WriteVia(pngPath, tmp => plot.SavePng(tmp, width, height));
    }
}
