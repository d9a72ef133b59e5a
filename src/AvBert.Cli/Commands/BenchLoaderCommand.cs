using AvBert.Config;
using AvBert.Data;
using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert bench loader`: what this machine's loader delivers for a source (or a cache), per worker count.</summary>
public static class BenchLoaderCommand
{
    public static Command Build()
    {
        var opts = new ConfigOptions();
        var data = CommonOptions.Data("The source to read: any data source spec, or cache:DIR made by `avbert prep`");
        var workers = new Option<string>("--workers") { Description = "Worker counts to measure, comma-separated (default: 1 and one per core)" };
        var seconds = new Option<double>("--seconds") { Description = "Seconds per measurement", DefaultValueFactory = _ => 20 };
        var task = new Option<string>("--task") { Description = "pretrain (sequences of T clips, both streams), audio (single 2 s windows, 10 per file) or visual (single clips, 10 per video)", DefaultValueFactory = _ => "pretrain" };
        var split = CommonOptions.Split("Split of --data", "train");
        var c = new Command("loader", "Clips per second the data loader delivers at the training geometry, the decode/transform split and peak memory");
        opts.AddTo(c);
        foreach (var o in new Option[] { data, workers, seconds, task, split }) c.Options.Add(o);
        c.SetAction((r, ct) =>
        {
            var config = opts.Load(r);
            var source = SourceLoader.Open(r.GetValue(data)!, r.GetValue(split)!, new SkippedLog(null, TextWriter.Null));
            var options = r.GetValue(task) switch
            {
                "pretrain" => SequenceOptions.Sequences(SampleMode.Train),
                "audio" => SequenceOptions.Esc50(SampleMode.Train),
                "visual" => SequenceOptions.Ucf101(SampleMode.Train),
                var t => throw new Runtime.UserError($"bench loader: --task {t}: use pretrain, audio or visual"),
            };
            var counts = (r.GetValue(workers) ?? $"1,{Environment.ProcessorCount}").Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(w => int.TryParse(w, out var n) && n > 0 ? n : throw new Runtime.UserError($"bench loader: --workers {w}: give whole numbers >= 1, e.g. 1,2"))
                .Distinct().ToArray();
            Media.MediaOptions.DecoderThreads = 1;   // workers decode in parallel: one FFmpeg thread each
            var d = config.Data;
            var probe = new VideoSequenceDataset(source, d, options);
            Console.WriteLine(FormattableString.Invariant(
                $"bench loader: {source.Name}: {source.Items.Count} files, task {r.GetValue(task)}, {probe.ClipsPerSample} clip(s) of {d.NumFrames} frames at {d.TrainCropSize}² + log-mel {d.AudioFrequency}x{d.AudioTime} per sample, {probe.ViewsPerVideo} view(s) per file, {Environment.ProcessorCount} cores"));
            foreach (var n in counts)
            {
                var m = LoaderBenchmark.Measure(new VideoSequenceDataset(source, d, options), n, r.GetValue(seconds), ct: ct);
                Console.WriteLine(FormattableString.Invariant(
                    $"  workers {n,2}: {m.ClipsPerSecond:0.0} clips/s ({m.ClipsPerSecondPerWorker:0.0} per worker, {m.Samples} samples in {m.Seconds:0.0} s); decode {m.DecodeShare * 100:0}% / transform {(1 - m.DecodeShare) * 100:0}% of reader time; {m.ClipsPerCpuSecond:0.0} clips per CPU-second (with FFmpeg); peak memory {m.PeakRssBytes / 1048576.0:0} MiB")
                    + (m.Skipped > 0 ? $"; {m.Skipped} skipped" : ""));
            }
            return Task.FromResult(0);
        });
        return c;
    }
}
