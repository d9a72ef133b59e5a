using AvBert.Config;
using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert finetune`: train a task head (and, when fine-tuning, the backbone) on labeled videos (SPEC §8).</summary>
public static class FinetuneCommand
{
    public static Command Build()
    {
        var opts = new ConfigOptions();
        var device = new DeviceOption();
        var task = new Option<DownstreamTask?>("--task") { Description = "visual (UCF101 protocol), audio (ESC-50), audiovisual (Kinetics-Sounds), multilabel (Charades-style)" };
        var protocol = new Option<TransferProtocol?>("--protocol") { Description = "linear (frozen backbone, head only) or finetune (everything); default: the task's protocol" };
        var data = CommonOptions.Data("Labeled source: classes:DIR, ucf101:ROOT, esc50:ROOT, kinetics:CSV, charades:CSV, audioset:CSV, csv:FILE, ..., or toy-av[:N] (the built-in generated set: N training videos, N/2 test)");
        var init = new Option<string?>("--init") { Description = "Start from this model (a pretrain/finetune run folder or model directory, or `avbert convert` output); default: random init" };
        var output = CommonOptions.Out("Run folder: config.yaml, checkpoints/, metrics.*, loss.png, accuracy.png, metrics.json, confusion.png, per_class.tsv, model/");
        var retries = new RetriesOption();
        var resume = CommonOptions.Resume();
        var allowDataChange = new AllowDataChangeOption();
        var folds = new Option<string>("--folds") { Description = "Cross-validation over the source's folds: auto (the audio task when items have folds), all, none, or a list like 1,3", DefaultValueFactory = _ => "auto" };
        var trainSplit = new Option<string>("--train-split") { Description = "Split to train on", DefaultValueFactory = _ => "train" };
        var testSplit = new Option<string>("--test-split") { Description = "Held-out split evaluated during and after training", DefaultValueFactory = _ => "test" };
        var valFraction = new Option<double?>("--val-fraction") { Description = "Test on this fraction of each class of the training split, held out from training (seeded by downstream.seed; default 0.2 when the source has no test split of its own)" };
        var testData = new Option<string?>("--test-data") { Description = "Test on this other labeled source (its --test-split) instead of the --data source's" };
        var noTest = new Option<bool>("--no-test") { Description = "No final test: train on every video of the training split" };
        var workers = CommonOptions.Workers();
        var progress = CommonOptions.Progress();
        var c = new Command("finetune", "Fine-tune or linearly evaluate a model on labeled videos: visual, audio, audiovisual or multilabel task (SPEC §8)");
        foreach (var o in new Option[] { task, protocol, data, init, output, resume, folds, trainSplit, testSplit, valFraction, testData, noTest, workers, progress }) c.Options.Add(o);
        opts.AddTo(c);
        device.AddTo(c);
        retries.AddTo(c);
        allowDataChange.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var runDir = Path.GetFullPath(r.GetValue(output)!);
            bool isResume = r.GetValue(resume);
            var summary = FinetuneJob.Run(new FinetuneJobOptions
            {
                Run = new FinetuneOptions
                {
                    RunDir = runDir, Data = r.GetValue(data)!, Init = r.GetValue(init), Resume = isResume,
                    Workers = r.GetValue(workers), Progress = r.GetValue(progress), Folds = r.GetValue(folds)!,
                    TrainSplit = r.GetValue(trainSplit)!, TestSplit = r.GetValue(testSplit)!, Cancellation = ct,
                    ValFraction = r.GetValue(valFraction), TestData = r.GetValue(testData), NoTest = r.GetValue(noTest),
                },
                Task = r.GetValue(task), Protocol = r.GetValue(protocol), Preset = r.GetValue(opts.Preset), ConfigFile = r.GetValue(opts.File),
                Sets = r.GetValue(opts.Set) ?? [], AllowDataChange = allowDataChange.Get(r), DeviceName = device.Name(r), Retries = retries.Get(r),
            });
            foreach (var run in summary.Runs.Where(x => x.Report is not null))
                run.Report!.WriteTable(Console.Out, run.Name.Length > 0 ? run.Name : "test");
            return Task.FromResult(0);
        });
        return c;
    }
}
