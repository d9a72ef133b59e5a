using AvBert.Runs;
using Spectre.Console;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert data real`: builds (once) the real-media set from Debian packages and says where it is and what it holds.</summary>
public static class DataCommand
{
    public static Command Build()
    {
        var c = new Command("data", "Built-in data sets");
        c.Subcommands.Add(Real());
        return c;
    }

    static Command Real()
    {
        var defaults = RealMediaRun.Defaults;
        var seed = new Option<int>("--seed") { Description = "Seed of the split and of every video's pairing and camera move", DefaultValueFactory = _ => defaults.Seed };
        var pairing = CommonOptions.WithDefault("--pairing",
            "matched: picture and sound belong together, 3 classes (the default); crossed: picture kind × sound kind, 9 classes only both decide",
            defaults.Pairing);
        var train = new Option<int?>("--train") { Description = "Training videos per class (default 120 matched, 40 crossed)" };
        var test = new Option<int?>("--test") { Description = "Test videos per class (default 48 matched, 16 crossed)" };
        var seconds = new Option<double>("--seconds") { Description = "Seconds per video", DefaultValueFactory = _ => defaults.Seconds };
        var assets = new Option<string?>("--assets") { Description = "Compose from this unpacked asset folder instead of fetching the packages (PACKAGE/usr/share/...)" };
        var outDir = new Option<string?>("--out") { Description = "Write the set into this new folder instead of the cache (~/.cache/avbert/real-media)" };
        var c = new Command("real", "The real-media set: real pictures and recordings from Debian packages (apt-get download, dpkg-deb -x), " +
                                    "filmed with pan and zoom into DIR/{train,test}/CLASS/*.mp4; built once and cached. Use it as --data real.");
        foreach (var o in new Option[] { pairing, seed, train, test, seconds, assets, outDir }) c.Options.Add(o);
        c.SetAction((r, ct) =>
        {
            var run = RealMediaRun.Prepare(defaults with
            {
                Seed = r.GetValue(seed), Pairing = r.GetValue(pairing), TrainVideosPerClass = r.GetValue(train), TestVideosPerClass = r.GetValue(test), Seconds = r.GetValue(seconds),
            });
            var clock = System.Diagnostics.Stopwatch.StartNew();
            RealMediaSummary? built = null;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask("real media", maxValue: run.Videos);
                    built = run.Build(Console.Out, r.GetValue(assets), r.GetValue(outDir), () => task.Increment(1), ct);
                    task.Value = task.MaxValue;
                });
            var (dir, m) = (built!.Dir, built.Manifest);
            Console.WriteLine($"real media: {dir} ({clock.Elapsed.TotalSeconds:0} s)");
            Console.WriteLine($"  {m.Videos.Count} videos of {m.Options.Seconds:0.##} s, {m.Options.Width}x{m.Options.Height} @ {m.Options.Fps} fps, {m.Options.SampleRate} Hz mono");
            foreach (var cls in m.Classes) Console.WriteLine($"  {cls.Name,-28} train {cls.Train,4}  test {cls.Test,4}");
            foreach (var p in m.Packages) Console.WriteLine($"  from {p.Name} {p.Version} ({string.Join(", ", p.Licences)})");
            Console.WriteLine($"  manifest: {built.ManifestFile}; use it as --data {built.Spec}");
            return Task.FromResult(0);
        });
        return c;
    }
}
