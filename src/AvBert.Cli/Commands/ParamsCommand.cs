using System.CommandLine;
using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using static TorchSharp.torch;

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
            var cfg = opts.Load(r);
            using var model = new AvBertModel(cfg.Model);
            var built = ParameterCounts.Of(model);
            var t = cfg.Model.Transformer;
            var cnns = (model.HasVisual ? $"visual CNN{(cfg.Model.Visual.Arch == VisualCnnArch.Slowfast ? " (SlowFast)" : "")} {built.VisualCnn:N0}" : "") + (model.HasVisual && model.HasAudio ? " + " : "") +
                       (model.HasAudio ? $"audio CNN {built.AudioCnn:N0}" : "");
            var only = cfg.Model.Modalities == ModelModalities.AudioVisual ? "" : $"{cfg.Model.Modalities.ToString().ToLowerInvariant()} only, ";
            Console.WriteLine($"{only}fusion {cfg.Model.Fusion.ToString().ToLowerInvariant()}, D={t.HiddenSize}, {t.NumLayers} layers, " +
                              $"FFN {t.IntermediateSize}, rank {t.Rank}; {cnns}, " +
                              $"embeddings {built.Embeddings:N0}, projections+LN {built.Projections:N0}");
            var rows = new List<(string Name, long Transformer, bool Configured)>();
            bool configuredListed = false;
            foreach (var (name, crossLayer, sharing) in ParameterCounts.PaperSettings)
            {
                bool configured = t.ShareAcrossLayers == crossLayer && t.ShareAcrossTransformers == sharing;
                configuredListed |= configured;
                rows.Add((name, configured ? built.Transformer : ParameterCounts.TransformerOf(ParameterCounts.WithSharing(cfg.Model, crossLayer, sharing)), configured));
            }
            if (!configuredListed)
                rows.Add(($"configured ({(t.ShareAcrossLayers ? "cross-layer + " : "")}{t.ShareAcrossTransformers.ToString().ToLowerInvariant()})", built.Transformer, true));

            string[] header = ["sharing", "Transformer", "CNN", "embeddings", "projections+LN", "total"];
            var table = rows.Select(x => new[]
            {
                x.Name + (x.Configured ? " *" : ""), $"{x.Transformer:N0}", $"{built.Cnn:N0}", $"{built.Embeddings:N0}",
                $"{built.Projections:N0}", $"{x.Transformer + built.Cnn + built.Embeddings + built.Projections:N0}",
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
