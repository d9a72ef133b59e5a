using System.CommandLine;
using AvBert.Runs;

namespace AvBert.Cli.Commands;

/// <summary>`avbert bench probe`: how long `probe` takes here on N extracted videos (random features with class structure).</summary>
public static class BenchProbeCommand
{
    public static Command Build()
    {
        var defaults = new ProbeBenchmarkOptions();
        var videos = new Option<int>("--videos") { Description = "Videos to generate features for", DefaultValueFactory = _ => defaults.Videos };
        var classes = new Option<int>("--classes") { Description = "Classes", DefaultValueFactory = _ => defaults.Classes };
        var clips = new Option<int>("--clips") { Description = "Clips per video (data.sequence_length)", DefaultValueFactory = _ => defaults.Clips };
        var visualDim = new Option<int>("--visual-dim") { Description = "Visual CNN feature size (2048 full, 256 small)", DefaultValueFactory = _ => defaults.VisualDim };
        var audioDim = new Option<int>("--audio-dim") { Description = "Audio CNN feature size (1024 full, 256 small)", DefaultValueFactory = _ => defaults.AudioDim };
        var hidden = new Option<int>("--hidden") { Description = "Transformer width (768 full, 128 small)", DefaultValueFactory = _ => defaults.Hidden };
        var output = new Option<string>("--out") { Description = "Folder for probe.json and probe.png (the generated features are deleted)", DefaultValueFactory = _ => "bench-probe" };
        var evaluation = new ProbeCommand.EvaluationOptions();
        var c = new Command("probe", "Seconds `avbert probe` takes on N extracted videos (random features with class structure, written as `extract` writes them; default the paper's sizes)");
        foreach (var o in new Option[] { videos, classes, clips, visualDim, audioDim, hidden, output }) c.Options.Add(o);
        evaluation.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var b = defaults with
            {
                Videos = r.GetValue(videos), Classes = r.GetValue(classes), Clips = r.GetValue(clips),
                VisualDim = r.GetValue(visualDim), AudioDim = r.GetValue(audioDim), Hidden = r.GetValue(hidden),
            };
            var outDir = Path.GetFullPath(r.GetValue(output)!);
            Console.WriteLine($"bench probe: writing {b.Videos} videos' features ({b.Clips} clips; CNN {b.VisualDim}/{b.AudioDim}, Transformers {b.Hidden}) to a temporary folder; {Environment.ProcessorCount} cores");
            var result = ProbeBenchmark.Run(b, evaluation.Apply(r, new ProbeOptions { OutDir = outDir }), ct);
            Console.WriteLine($"bench probe: features written in {result.WriteSeconds:0.0} s (not timed below)");
            ProbeCommand.Print(result.Summary, outDir);
            return Task.FromResult(0);
        });
        return c;
    }
}
