using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert bench loader`: what this machine's loader delivers for a source (or a prepared set), per worker count.</summary>
public static class BenchLoaderCommand
{
    public static Command Build()
    {
        var opts = new ConfigOptions();
        var data = CommonOptions.Data("The source to read: any data source spec, or prepared:DIR made by `avbert prep`");
        var workers = new Option<string>("--workers") { Description = "Worker counts to measure, comma-separated (default: 1 and one per core)" };
        var seconds = new Option<double>("--seconds") { Description = "Seconds per measurement", DefaultValueFactory = _ => 20 };
        var task = new Option<string>("--task") { Description = "pretrain (sequences of T clips, both streams), audio (single 2 s windows, 10 per file) or visual (single clips, 10 per video)", DefaultValueFactory = _ => "pretrain" };
        var split = CommonOptions.Split("Split of --data", "train");
        var c = new Command("loader", "Clips per second the data loader delivers at the training geometry, the decode/transform split and peak memory");
        opts.AddTo(c);
        foreach (var o in new Option[] { data, workers, seconds, task, split }) c.Options.Add(o);
        c.SetAction((r, ct) =>
        {
            LoaderBenchmark.Run(new LoaderBenchOptions(r.GetValue(data)!, r.GetValue(split)!, r.GetValue(task)!, r.GetValue(workers), r.GetValue(seconds),
                                                       opts.Load(r).Data), Console.Out, ct);
            return Task.FromResult(0);
        });
        return c;
    }
}
