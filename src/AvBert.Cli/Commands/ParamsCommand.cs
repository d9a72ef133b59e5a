using System.CommandLine;
using AvBert.Runs;

namespace AvBert.Cli.Commands;

/// <summary>`avbert params`: Transformer / CNN / embedding / total parameters for the sharing settings of SPEC §6.</summary>
public static class ParamsCommand
{
    public static Command Build()
    {
        var opts = new ConfigOptions();
        var c = new Command("params", "Parameter counts (Transformer, CNNs, embeddings, total) for the four sharing settings of the paper at this config");
        opts.AddTo(c);
        c.SetAction(r =>
        {
            var summary = ParamsRun.Run(opts.Load(r));
            Console.WriteLine(summary.Description);
            string[] header = ["sharing", "Transformer", "CNN", "embeddings", "projections+LN", "total"];
            var table = summary.Rows.Select(x => new[]
            {
                x.Name + (x.Configured ? " *" : ""), $"{x.Transformer:N0}", $"{x.Cnn:N0}", $"{x.Embeddings:N0}", $"{x.Projections:N0}", $"{x.Total:N0}",
            }).ToList();
            var widths = header.Select((h, i) => Math.Max(h.Length, table.Max(row => row[i].Length))).ToArray();
            string Line(string[] cells) => string.Join("  ", cells.Select((s, i) => i == 0 ? s.PadRight(widths[i]) : s.PadLeft(widths[i])));
            Console.WriteLine();
            Console.WriteLine(Line(header));
            Console.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
            foreach (var row in table) Console.WriteLine(Line(row));
            Console.WriteLine();
            Console.WriteLine("* the configured setting (counted on the built model; the other rows are computed).");
            return 0;
        });
        return c;
    }
}
