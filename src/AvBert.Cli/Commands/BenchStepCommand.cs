using System.CommandLine;
using AvBert.Config;
using AvBert.Runs;
using AvBert.Runtime;

namespace AvBert.Cli.Commands;

/// <summary>`avbert bench step`: training-step throughput, phase times and peak memory, for every combination of the listed
/// batch sizes, precisions, steps and (loader step) worker counts.</summary>
public static class BenchStepCommand
{
    public static Command Build()
    {
        var config = new ConfigOptions();
        var device = new DeviceOption();
        var precision = new PrecisionOption("auto (bf16 on GPUs that have it, else fp16; fp32 on the CPU; the default), fp32, tf32, bf16 or fp16, or a list like fp32,tf32,bf16,fp16");
        var batch = new Option<string>("--batch") { Description = "Videos per step (each of data.sequence_length clips), or a list like 4,8,16", DefaultValueFactory = _ => "8" };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after 3 warm-up steps)", DefaultValueFactory = _ => 10 };
        var step = new Option<string>("--step")
        {
            Description = "model (the network with a plain loss), pretrain (MEP + CPP as configured), loader (pretrain fed by the real " +
                          "loader over toy-av videos), both (model and pretrain) or all; a list like model,loader also works",
            DefaultValueFactory = _ => "both",
        };
        var workers = new Option<string>("--workers")
        {
            Description = "Loader step: decode threads, or a list (0 is one per core); default 1 and cores − 2",
        };
        var c = new Command("step", "Training-step throughput (clips/s), data/forward/backward/optimiser times and peak memory " +
                                    "(default: the paper's geometry, 10 clips of 32×112² + 80×128 per video)");
        config.AddTo(c);
        c.Options.Add(device.Option);
        precision.AddTo(c);
        c.Options.Add(batch);
        c.Options.Add(steps);
        c.Options.Add(step);
        c.Options.Add(workers);
        c.SetAction(r =>
        {
            var cfg = config.Load(r);
            var precisions = PrecisionOption.List(r.GetValue(precision.Option) ?? "auto");
            var batches = Integers(r.GetValue(batch)!, "--batch", 1);
            int n = r.GetValue(steps);
            if (n < 1) throw new UserError($"--steps {n}: must be at least 1.");
            var which = r.GetValue(step)!.Split(',').SelectMany(name => name.Trim().ToLowerInvariant() switch
            {
                "model" => new[] { BenchedStep.Model },
                "pretrain" => [BenchedStep.Pretraining],
                "loader" => [BenchedStep.Loader],
                "both" => [BenchedStep.Model, BenchedStep.Pretraining],
                "all" => [BenchedStep.Model, BenchedStep.Pretraining, BenchedStep.Loader],
                var other => throw new UserError($"--step {other}: unknown. Valid: model, pretrain, loader, both, all."),
            }).Distinct().ToList();
            var workerCounts = r.GetValue(workers) is { } w ? Integers(w, "--workers", 0) : new[] { 1, Math.Max(1, Environment.ProcessorCount - 2) }.Distinct().ToArray();
            var dev = device.Resolve(r);
            Console.WriteLine($"bench step: {Environment.ProcessorCount} cores, torch threads {TorchSharp.torch.get_num_threads()}, device {dev}; " +
                              $"peak memory: {(DeviceMemory.Unavailable(dev) is { } why ? $"allocator statistics unavailable ({why})" : "CUDA caching allocator")}");
            foreach (var result in StepBenchmark.Sweep(cfg, dev, which, batches, precisions, n, workerCounts))
                Console.WriteLine(result.Summary);
            return 0;
        });
        return c;
    }

    static int[] Integers(string list, string option, int min)
    {
        var values = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                         .Select(x => int.TryParse(x, out var v) && v >= min ? v : throw new UserError($"{option} {list}: '{x}' is not a whole number >= {min}."))
                         .ToArray();
        return values.Length > 0 ? values : throw new UserError($"{option} {list}: give at least one value.");
    }
}
