using System.Diagnostics;
using AvBert.Config;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Bench;

/// <summary>
/// Pretraining throughput (model + objectives + optimiser, no decoding): clips/s for the demo preset (small) and the
/// full-size model with a small batch, on random inputs of the right shapes, through the real <see cref="Trainer"/>.
/// <c>dotnet run -c Release --project bench/AvBert.Bench -- pretrain [small|full|all] [--steps N] [--batch B]</c>
/// </summary>
public static class PretrainBench
{
    public static int Run(string[] args)
    {
        TorchRuntime.Initialize();
        string which = args.FirstOrDefault(a => !a.StartsWith("--")) ?? "all";
        int steps = Arg(args, "--steps", 0), batch = Arg(args, "--batch", 0);
        Console.WriteLine($"pretrain bench: {Environment.ProcessorCount} cores, torch threads {get_num_threads()}");
        if (which is "small" or "all") Measure("small", batch > 0 ? batch : 8, steps > 0 ? steps : 6);
        if (which is "full" or "all") Measure("full", batch > 0 ? batch : 2, steps > 0 ? steps : 2);
        return 0;
    }

    static void Measure(string preset, int batch, int steps)
    {
        var cfg = ConfigLoader.Load(preset, overrides: [$"pretrain.batch_size={batch}", $"pretrain.steps={steps + 1}", "pretrain.warmup_steps=1"]);
        var d = cfg.Data;
        int T = d.SequenceLength, S = d.TrainCropSize;
        manual_seed(0);
        var model = new AvBertModel(cfg.Model);
        var pretrainer = new AvBertPretrainer(model, cfg.Model, cfg.Pretrain);
        var p = cfg.Pretrain;
        using var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(pretrainer.named_parameters(), p.Lr, p.WeightDecay),
            new AdamOptions { Beta1 = p.Betas[0], Beta2 = p.Betas[1], AmsGrad = p.Amsgrad });
        var visual = randn([batch, T, 3, d.NumFrames, S, S]);
        var audio = randn([batch, T, 1, d.AudioFrequency, d.AudioTime]);
        var stepTimes = new List<double>();
        var clock = Stopwatch.StartNew();
        var trainer = new Trainer(pretrainer, opt, new LrSchedule(p.Schedule, p.WarmupSteps, p.Steps),
            new TrainerOptions { Steps = steps + 1, Seed = 0, Progress = ProgressMode.Off, CheckpointEvery = 0 }, runDir: null);
        trainer.Run(_ => Batches(visual, audio), b =>
        {
            var l = pretrainer.forward(b.V, b.A);
            return new StepOutput(l.Total, l.Parts, batch * T);
        }, onStep: (s, _) => { stepTimes.Add(clock.Elapsed.TotalSeconds); clock.Restart(); });
        // The first step (allocations, lazy init) is left out.
        var timed = stepTimes.Skip(1).ToList();
        double mean = timed.Average();
        long parameters = pretrainer.parameters().Sum(x => x.numel());
        Console.WriteLine($"{preset,-5}: {parameters,12:N0} params, batch {batch} × {T} clips of {d.NumFrames}×{S}² + {d.AudioFrequency}×{d.AudioTime}: " +
                          $"{mean:0.000} s/step, {batch * T / mean:0.00} clips/s (mean of {timed.Count} steps after 1 warm-up)");
        Breakdown(pretrainer, opt, visual, audio);
    }

    /// <summary>Where one step's time goes: CNN encoders, the rest of the forward (Transformers, objectives), backward, optimiser.</summary>
    static void Breakdown(AvBertPretrainer p, TrainingOptimizer opt, Tensor visual, Tensor audio)
    {
        var sw = Stopwatch.StartNew();
        double enc = 0, fwd = 0, bwd = 0, step = 0;
        const int reps = 2;
        for (int i = 0; i < reps; i++)
        {
            using var scope = NewDisposeScope();
            opt.ZeroGrad();
            sw.Restart();
            using (no_grad()) { p.Model.EncodeVisual(visual); p.Model.EncodeAudio(audio); }
            enc += sw.Elapsed.TotalSeconds;
            sw.Restart();
            var l = p.forward(visual, audio);
            l.Total.item<float>();
            fwd += sw.Elapsed.TotalSeconds;
            sw.Restart();
            l.Total.backward();
            bwd += sw.Elapsed.TotalSeconds;
            sw.Restart();
            opt.Step();
            step += sw.Elapsed.TotalSeconds;
        }
        Console.WriteLine($"       breakdown per step: CNN encoders (no grad) {enc / reps:0.000} s, full forward + losses {fwd / reps:0.000} s, " +
                          $"backward {bwd / reps:0.000} s, AdamW step {step / reps:0.000} s");
    }

    static IEnumerable<(Tensor V, Tensor A)> Batches(Tensor v, Tensor a) { while (true) yield return (v, a); }

    static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) ? v : fallback;
    }
}
