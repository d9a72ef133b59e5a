using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

public static class PretrainCommand
{
    public static Command Build()
    {
        var opts = new ConfigOptions();
        var device = new DeviceOption();
        var data = CommonOptions.Data("Unlabeled videos: a folder, a list file, or any source spec of `avbert` data sources; " +
                                                              "toy-av[:N] = the built-in generated data (N new videos per epoch, default 2000; no files, no FFmpeg)");
        var output = CommonOptions.Out("Run folder: config.yaml, checkpoints/, metrics.jsonl/.csv, tb/, loss.png, skipped.tsv, model/");
        var resume = CommonOptions.Resume("pretrain.steps");
        var allowDataChange = new AllowDataChangeOption();
        var workers = CommonOptions.Workers();
        var retries = new RetriesOption();
        var progress = CommonOptions.Progress();
        var c = new Command("pretrain", "Self-supervised pretraining (MEP + CPP, SPEC §7) on unlabeled videos");
        opts.AddTo(c);
        foreach (var o in new Option[] { data, output, resume, workers, progress }) c.Options.Add(o);
        device.AddTo(c);
        retries.AddTo(c);
        allowDataChange.AddTo(c);
        c.SetAction((r, ct) =>
        {
            // Ctrl+C / SIGTERM (CliRunner) cancel ct: the run stops after the step, writes a checkpoint, exits 130.
            using var note = ct.Register(() => Console.Error.WriteLine("pretrain: writing a checkpoint; --resume continues the run"));
            var runDir = Path.GetFullPath(r.GetValue(output)!);
            bool isResume = r.GetValue(resume);
            if (isResume && (r.GetValue(opts.File) is not null || r.GetResult(opts.Preset) is { Implicit: false }))
                Console.Error.WriteLine("note: --resume uses the run's own config.yaml; --preset and --config are ignored (--set still applies).");
            var summary = PretrainJob.Run(new PretrainJobOptions
            {
                Run = new PretrainRunOptions { RunDir = runDir, Resume = isResume, Workers = r.GetValue(workers), Progress = r.GetValue(progress), Cancellation = ct },
                Data = r.GetValue(data)!, Config = () => opts.Load(r), Sets = r.GetValue(opts.Set) ?? [], AllowDataChange = allowDataChange.Get(r),
                DeviceName = device.Name(r), Retries = retries.Get(r),
            });
            var last = string.Join(", ", summary.LastValues.Where(kv => kv.Key.StartsWith("loss")).Select(kv => $"{kv.Key} {kv.Value:0.0000}"));
            Console.WriteLine(summary.LastValues.Count == 0
                ? $"pretrain: the run is already at step {summary.Steps} (raise it with --set pretrain.steps=N)"
                : $"pretrain: {summary.Steps} steps in {summary.Seconds:0.0} s ({summary.ClipsPerSecond:0.0} clips/s); {last}");
            if (summary.SkippedFiles > 0) Console.WriteLine($"pretrain: {summary.SkippedFiles} file(s) skipped, listed in {summary.SkippedFile}");
            Console.WriteLine($"pretrain: model written to {summary.ModelDir} (use it with --init {summary.ModelDir})");
            return Task.FromResult(0);
        });
        return c;
    }
}
