using System.CommandLine;
using AvBert.Config;
using AvBert.Pretraining;
using AvBert.Runtime;

namespace AvBert.Cli.Commands;

/// <summary>`avbert bench step`: training-step throughput, phase times and peak memory on synthetic inputs on the device.</summary>
public static class BenchStepCommand
{
    public static Command Build()
    {
        var config = new ConfigOptions();
        var device = new DeviceOption();
        var precision = new PrecisionOption("auto (bf16 on CUDA, fp32 on the CPU; the default), fp32, tf32 or bf16");
        var batch = new Option<int>("--batch") { Description = "Videos per step (each of data.sequence_length clips)", DefaultValueFactory = _ => 8 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after 3 warm-up steps)", DefaultValueFactory = _ => 10 };
        var step = new Option<string>("--step") { Description = "model (the network with a plain loss), pretrain (MEP + CPP as configured) or both", DefaultValueFactory = _ => "both" };
        var c = new Command("step", "Training-step throughput (clips/s), forward/backward/optimiser times and peak memory on synthetic inputs " +
                                    "(default: the paper's geometry, 10 clips of 32×112² + 80×128 per video)");
        config.AddTo(c);
        c.Options.Add(device.Option);
        precision.AddTo(c);
        c.Options.Add(batch);
        c.Options.Add(steps);
        c.Options.Add(step);
        c.SetAction(r =>
        {
            var cfg = config.Load(r);
            var p = precision.Get(r) ?? Precision.Auto;
            int b = r.GetValue(batch), n = r.GetValue(steps);
            if (b < 1) throw new UserError($"--batch {b}: must be at least 1.");
            if (n < 1) throw new UserError($"--steps {n}: must be at least 1.");
            var which = r.GetValue(step)!.Trim().ToLowerInvariant() switch
            {
                "model" => new[] { BenchedStep.Model },
                "pretrain" => [BenchedStep.Pretraining],
                "both" => [BenchedStep.Model, BenchedStep.Pretraining],
                var s => throw new UserError($"--step {s}: unknown. Valid: model, pretrain, both."),
            };
            var dev = device.Resolve(r);
            Console.WriteLine($"bench step: {Environment.ProcessorCount} cores, torch threads {TorchSharp.torch.get_num_threads()}, device {dev}");
            foreach (var s in which)
            {
                var result = StepBenchmark.Run(new StepBenchmark.Options { Config = cfg, Device = dev, Precision = p, Batch = b, Steps = n, Step = s });
                Console.WriteLine(result.Summary);
            }
            return 0;
        });
        return c;
    }
}
