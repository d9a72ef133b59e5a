using System.CommandLine;
using System.Diagnostics;
using AvBert.Distributed;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Cli.Commands;

/// <summary>
/// `avbert bench allreduce`: what data parallelism costs on this machine. Run it alone (1 rank: compute only) and under
/// `mpirun -np N` (N ranks): the all-reduce bandwidth over message sizes, then pretraining steps on random inputs of the
/// chosen preset with the time split into compute (forward + backward) and communication (the bucketed gradient
/// all-reduce). Rank 0 prints.
/// </summary>
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
            var config = opts.Load(r);
            var dev = device.Resolve(r);
            var dp = DataParallel.Current;
            int ranks = dp?.Size ?? 1;
            Console.WriteLine(dp?.Describe() ?? $"single process on {dev} (run under `mpirun -np N` to measure the all-reduce)");
            if (dp is not null)
            {
                Console.WriteLine($"{"size",10} {"time",10} {"algbw",12} {"busbw",12}");
                foreach (int mb in r.GetValue(sizes)!)
                {
                    using var buffer = ones([mb * (1L << 20) / 4], float32, dev);
                    dp.Collectives.AllReduceMean(buffer, "bench all-reduce");   // warm-up
                    int repeats = Math.Max(3, 64 / mb);
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < repeats; i++) dp.Collectives.AllReduceMean(buffer, "bench all-reduce");
                    _ = buffer[0].item<float>(); // waits for the device
                    double s = sw.Elapsed.TotalSeconds / repeats, bytes = mb * (double)(1 << 20);
                    // Bus bandwidth: what each link carries in a ring all-reduce, 2(n-1)/n of the message (NCCL's convention).
                    Console.WriteLine($"{mb + " MB",10} {s * 1e3,8:0.00} ms {bytes / s / 1e9,8:0.00} GB/s {bytes / s / 1e9 * 2 * (ranks - 1) / ranks,8:0.00} GB/s");
                }
            }

            var p = config.Pretrain;
            int batch = DataParallel.RankBatch(p.BatchSize / p.Accumulation, "pretrain.batch_size / pretrain.accumulation");
            Seeding.Seed(p.Seed);
            var pretrainer = new AvBertPretrainer(new AvBertModel(config.Model), config.Model, PretrainObjectiveOptions.From(p));
            pretrainer.to(dev);
            pretrainer.train();
            var parameters = pretrainer.parameters().Where(x => x.requires_grad).ToList();
            using var buckets = new GradientBuckets(parameters);
            var d = config.Data;
            double compute = 0, communicate = 0;
            for (int step = 0; step <= r.GetValue(steps); step++)
            {
                using var scope = NewDisposeScope();
                var visual = randn([batch, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize], device: dev);
                var audio = randn([batch, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime], device: dev);
                foreach (var x in parameters) x.grad?.zero_();
                var sw = Stopwatch.StartNew();
                pretrainer.forward(visual, audio).Total.backward();
                _ = parameters[0].grad!.sum().item<float>();
                double c1 = sw.Elapsed.TotalSeconds;
                sw.Restart();
                if (dp is not null) dp.AverageGradients(buckets);
                _ = parameters[0].grad!.sum().item<float>();
                if (step == 0) continue; // warm-up
                compute += c1;
                communicate += sw.Elapsed.TotalSeconds;
            }
            int n = r.GetValue(steps);
            Console.WriteLine($"step ({p.BatchSize} videos global, {batch} on each of {ranks} rank(s); {buckets.Elements:N0} gradient values, " +
                              $"{buckets.Bytes / 1e6:0.0} MB in {buckets.Buckets.Count} bucket(s)): compute {compute / n * 1e3:0.0} ms, " +
                              $"communication {communicate / n * 1e3:0.0} ms ({communicate / Math.Max(1e-12, compute + communicate):P0} of the step)");
            return 0;
        });
        return c;
    }
}
