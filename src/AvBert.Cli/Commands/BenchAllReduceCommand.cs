using System.CommandLine;
using AvBert.Runs;

namespace AvBert.Cli.Commands;

/// <summary>`avbert bench allreduce`: all-reduce bandwidth and the step split into compute and communication (<see cref="AllReduceBenchmark"/>).</summary>
public static class BenchAllReduceCommand
{
    public static Command Build()
    {
        var opts = new ConfigOptions();
        var device = new DeviceOption();
        var steps = new Option<int>("--steps") { Description = "Timed training steps (after one warm-up step)", DefaultValueFactory = _ => 5 };
        var sizes = new Option<int[]>("--sizes-mb") { Description = "All-reduce message sizes in MB", DefaultValueFactory = _ => [1, 4, 16, 64], AllowMultipleArgumentsPerToken = true };
        var c = new Command("allreduce", "Data parallelism: all-reduce bandwidth and the step time split into compute and communication (run alone and under mpirun)");
        opts.AddTo(c);
        device.AddTo(c);
        c.Options.Add(steps);
        c.Options.Add(sizes);
        c.SetAction(r =>
        {
            AllReduceBenchmark.Run(opts.Load(r), device.Resolve(r), r.GetValue(steps), r.GetValue(sizes)!, Console.Out);
            return 0;
        });
        return c;
    }
}
