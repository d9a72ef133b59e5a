using System.Diagnostics;
using AvBert.Config;
using AvBert.Distributed;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>
/// `avbert bench allreduce`: what data parallelism costs on this machine (docs/scaling-out.md). Run alone (1 rank: compute
/// only) and under `mpirun -np N` (N ranks): the all-reduce bandwidth over message sizes, then pretraining steps on random
/// inputs of the configured model with the time split into compute (forward + backward) and communication (the bucketed
/// gradient all-reduce). Rank 0 prints.
/// </summary>
public static class AllReduceBenchmark
{
    /// <param name="steps">Timed training steps (after one warm-up step).</param>
    /// <param name="sizesMb">All-reduce message sizes in MB.</param>
    public static void Run(AvBertConfig config, Device device, int steps, IReadOnlyList<int> sizesMb, TextWriter output)
    {
        var dp = DataParallel.Current;
        int ranks = dp?.Size ?? 1;
        output.WriteLine(dp?.Describe() ?? $"single process on {device} (run under `mpirun -np N` to measure the all-reduce)");
        if (dp is not null)
        {
            output.WriteLine($"{"size",10} {"time",10} {"algbw",12} {"busbw",12}");
            foreach (int mb in sizesMb)
            {
                using var buffer = ones([mb * (1L << 20) / 4], float32, device);
                dp.Collectives.AllReduceMean(buffer, "bench all-reduce");   // warm-up
                int repeats = Math.Max(3, 64 / mb);
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < repeats; i++) dp.Collectives.AllReduceMean(buffer, "bench all-reduce");
                _ = buffer[0].item<float>(); // waits for the device
                double s = sw.Elapsed.TotalSeconds / repeats, bytes = mb * (double)(1 << 20);
                // Bus bandwidth: what each link carries in a ring all-reduce, 2(n-1)/n of the message (NCCL's convention).
                output.WriteLine($"{mb + " MB",10} {s * 1e3,8:0.00} ms {bytes / s / 1e9,8:0.00} GB/s {bytes / s / 1e9 * 2 * (ranks - 1) / ranks,8:0.00} GB/s");
            }
        }

        var p = config.Pretrain;
        int batch = DataParallel.RankBatch(p.BatchSize / p.Accumulation, "pretrain.batch_size / pretrain.accumulation");
        Seeding.Seed(p.Seed);
        var pretrainer = new AvBertPretrainer(new AvBertModel(config.Model), config.Model, PretrainObjectiveOptions.From(p));
        pretrainer.to(device);
        pretrainer.train();
        var parameters = pretrainer.parameters().Where(x => x.requires_grad).ToList();
        using var buckets = new GradientBuckets(parameters);
        var d = config.Data;
        double compute = 0, communicate = 0;
        for (int step = 0; step <= steps; step++)
        {
            using var scope = NewDisposeScope();
            var visual = randn([batch, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize], device: device);
            var audio = randn([batch, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime], device: device);
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
        int n = steps;
        output.WriteLine($"step ({p.BatchSize} videos global, {batch} on each of {ranks} rank(s); {buckets.Elements:N0} gradient values, " +
                         $"{buckets.Bytes / 1e6:0.0} MB in {buckets.Buckets.Count} bucket(s)): compute {compute / n * 1e3:0.0} ms, " +
                         $"communication {communicate / n * 1e3:0.0} ms ({communicate / Math.Max(1e-12, compute + communicate):P0} of the step)");
    }
}
