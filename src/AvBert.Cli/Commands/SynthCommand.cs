using AvBert.Runs;
using Spectre.Console;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert synth --out DIR`: writes the built-in toy-av dataset as real video files.</summary>
public static class SynthCommand
{
    public static Command Build()
    {
        var config = new ConfigOptions();
        config.Preset.DefaultValueFactory = _ => "small"; // the demo's clip geometry: what `avbert demo` trains on
        var outDir = CommonOptions.Out("Output folder");
        var train = new Option<int>("--train") { Description = "Training videos", DefaultValueFactory = _ => 160 };
        var test = new Option<int>("--test") { Description = "Test videos", DefaultValueFactory = _ => 80 };
        var size = new Option<int>("--size") { Description = "Frame side in pixels (square frames)", DefaultValueFactory = _ => 128 };
        var seed = new Option<int>("--seed") { Description = "Dataset seed (same seed, same videos)", DefaultValueFactory = _ => 0 };
        var classes = new Option<int>("--classes") { Description = $"Event classes (2..{SynthRun.MaxClasses})", DefaultValueFactory = _ => 8 };
        var toy = new Option<string[]>("--toy") { Description = "Override a toy-av setting, e.g. --toy distractors=1 (repeatable; keys: " + string.Join(", ", SynthRun.ToyKeys) + ")" };
        var c = new Command("synth", "Write the built-in toy-av dataset as video files (MP4, H.264 + AAC; needs FFmpeg): " +
                                     "DIR/{train,test}/<class>/*.mp4, DIR/{train,test}.csv, DIR/classes.txt");
        foreach (var o in new Option[] { outDir, train, test, size, seed, classes, toy }) c.Options.Add(o);
        config.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var cfg = config.Load(r);
            int nTrain = r.GetValue(train), nTest = r.GetValue(test), side = r.GetValue(size);
            var synth = SynthRun.Prepare(new SynthOptions
            {
                Data = cfg.Data, Train = nTrain, Test = nTest, Size = side, Seed = r.GetValue(seed), Classes = r.GetValue(classes), Toy = r.GetValue(toy) ?? [],
            });
            var dir = r.GetValue(outDir)!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask($"toy-av → {dir}", maxValue: synth.Videos);
                    synth.Write(dir, () => task.Increment(1), ct);
                });
            Console.WriteLine($"wrote {nTrain} train + {nTest} test videos ({synth.VideoSeconds:0.##} s each, {side}x{side} @ {cfg.Data.TargetFps} fps, " +
                              $"{synth.SampleRate} Hz mono) and train.csv, test.csv, classes.txt to {dir}");
            return Task.FromResult(0);
        });
        return c;
    }
}
