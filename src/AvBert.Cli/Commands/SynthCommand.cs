using AvBert.Synthetic;
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
        var classes = new Option<int>("--classes") { Description = $"Event classes (2..{ToyAvClasses.Max})", DefaultValueFactory = _ => 8 };
        var toy = new Option<string[]>("--toy") { Description = "Override a toy-av setting, e.g. --toy distractors=1 (repeatable; keys: " + string.Join(", ", ToyAvOptionsParser.Keys) + ")" };
        var c = new Command("synth", "Write the built-in toy-av dataset as video files (MP4, H.264 + AAC; needs FFmpeg): " +
                                     "DIR/{train,test}/<class>/*.mp4, DIR/{train,test}.csv, DIR/classes.txt");
        foreach (var o in new Option[] { outDir, train, test, size, seed, classes, toy }) c.Options.Add(o);
        config.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var cfg = config.Load(r);
            int nTrain = r.GetValue(train), nTest = r.GetValue(test), side = r.GetValue(size), k = r.GetValue(classes);
            if (nTrain < 0 || nTest < 0 || nTrain + nTest == 0) throw new Runtime.UserError($"--train {nTrain} --test {nTest}: need at least one video and no negative counts.");
            if (side is < 16 or > 1024 || side % 2 != 0) throw new Runtime.UserError($"--size {side}: must be an even number of pixels in 16..1024.");
            if (k is < 2 or > ToyAvClasses.Max) throw new Runtime.UserError($"--classes {k}: toy-av has 2..{ToyAvClasses.Max} classes.");
            var data = new ToyAv(ToyAvOptionsParser.Apply(new ToyAvOptions { Seed = r.GetValue(seed), NumClasses = k }, r.GetValue(toy) ?? []), cfg.Data);
            var dir = r.GetValue(outDir)!;
            var writer = new ToyAvWriter(data, cfg.Data.TargetFps);
            var options = new ToyAvWriteOptions { TrainVideos = nTrain, TestVideos = nTest, FrameSize = side };
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask($"toy-av → {dir}", maxValue: nTrain + nTest);
                    writer.Write(dir, options, _ => task.Increment(1), ct);
                });
            Console.WriteLine($"wrote {nTrain} train + {nTest} test videos ({data.DurationSeconds:0.##} s each, {side}x{side} @ {cfg.Data.TargetFps} fps, " +
                              $"{data.SampleRate} Hz mono) and train.csv, test.csv, classes.txt to {dir}");
            return Task.FromResult(0);
        });
        return c;
    }
}
