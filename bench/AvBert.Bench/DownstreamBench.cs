using System.Diagnostics;
using AvBert.Config;
using AvBert.Downstream;
using AvBert.Model;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Bench;

/// <summary>
/// Downstream throughput: optimiser steps per second of each task's TransferModel on random inputs (no decoding), at a
/// preset. Usage: downstream [--preset small|full] [--steps N] [--batch B] [--set key=value ...].
/// </summary>
public static class DownstreamBench
{
    public static int Run(string[] args)
    {
        string preset = "small";
        int steps = 10, batch = 4;
        var sets = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--preset": preset = args[++i]; break;
                case "--steps": steps = int.Parse(args[++i]); break;
                case "--batch": batch = int.Parse(args[++i]); break;
                case "--set": sets.Add(args[++i]); break;
            }
        }
        var cfg = ConfigLoader.Load(preset, null, sets);
        var d = cfg.Data;
        Console.WriteLine($"downstream bench: preset {preset}, batch {batch}, {steps} steps, {torch.get_num_threads()} threads");
        foreach (var task in Enum.GetValues<DownstreamTask>())
            foreach (var protocol in new[] { TransferProtocol.Finetune, TransferProtocol.Linear })
            {
                manual_seed(0);
                using var model = new TransferModel(new AvBertModel(cfg.Model, d), new TransferModelOptions(task, protocol, 10));
                var groups = TrainingOptimizer.DecayGroups(model.named_parameters(), 1e-3, 5e-6);
                using var opt = TrainingOptimizer.Create(groups, new AdamOptions { Kind = OptimizerKind.Adam });
                var loss = task == DownstreamTask.Multilabel ? ClassificationLoss.BinaryCrossEntropy : ClassificationLoss.CrossEntropy;
                var objective = new ClassificationObjective(loss, 0.1, 10);
                int t = task is DownstreamTask.Audiovisual or DownstreamTask.Multilabel ? d.SequenceLength : 1;
                using var visual = randn([batch, t, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize]);
                using var audio = randn([batch, t, 1, d.AudioFrequency, d.AudioTime]);
                var labels = Enumerable.Range(0, batch).Select(i => new[] { i % 10 }).ToList();
                var sw = new Stopwatch();
                for (int s = -2; s < steps; s++)
                {
                    if (s == 0) sw.Start();
                    using var scope = NewDisposeScope();
                    model.train();
                    opt.ZeroGrad();
                    var logits = model.Forward(visual, audio);
                    objective.Compute(logits, objective.Targets(labels, t, CPU)).backward();
                    opt.Step();
                }
                sw.Stop();
                double perStep = sw.Elapsed.TotalSeconds / steps;
                Console.WriteLine($"{task,-12} {protocol,-9} {perStep * 1000,8:0.0} ms/step  {batch * t / perStep,8:0.0} clips/s");
            }
        return 0;
    }
}
