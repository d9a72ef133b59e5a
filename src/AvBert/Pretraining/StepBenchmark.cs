using System.Diagnostics;
using AvBert.Config;
using AvBert.Model;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Pretraining;

/// <summary>Which training step <see cref="StepBenchmark"/> measures.</summary>
public enum BenchedStep
{
    /// <summary>The full model (both CNNs, Transformers) with a plain loss: what a PyTorch reference step measures.</summary>
    Model,
    /// <summary>The real pretraining step: the model plus MEP (with the configured sampler, CANS by default) and CPP.</summary>
    Pretraining,
}

/// <summary>One measured configuration.</summary>
/// <param name="ClipsPerSecond">Throughput of steps run back to back with no fence inside (the real rate).</param>
/// <param name="ForwardMs">Mean forward + loss time with fences around it (also for backward and optimiser).</param>
/// <param name="PeakBytes">Peak memory: the GPU memory the process held (nvidia-smi) on CUDA, the peak RSS on the CPU; 0 if unknown.</param>
public sealed record StepBenchResult(BenchedStep Step, string Device, Precision Precision, int Batch, int Clips, string Geometry,
                                     double ClipsPerSecond, double ForwardMs, double BackwardMs, double OptimizerMs,
                                     long PeakBytes, string PeakSource)
{
    public string Summary =>
        $"{Step.ToString().ToLowerInvariant(),-11} {Device,-6} {Precision.ToString().ToLowerInvariant(),-4} B={Batch,-3} {Geometry}: " +
        $"{ClipsPerSecond,8:0.0} clips/s | forward {ForwardMs:0.0} ms, backward {BackwardMs:0.0} ms, optimiser {OptimizerMs:0.0} ms | " +
        $"peak {(PeakBytes > 0 ? $"{PeakBytes / (1024.0 * 1024 * 1024):0.00} GiB" : "n/a")} ({PeakSource})";
}

/// <summary>
/// Times a training step on synthetic inputs created on the device (no data loading): forward + loss in the chosen
/// precision, backward, gradient clipping and the fused AdamW (AMSGrad) step, exactly as <see cref="Trainer"/> runs them.
/// Warm-up steps (allocator growth, cudnn.benchmark's search) are left out. Throughput comes from steps run back to back;
/// the phase breakdown from separate steps with a device fence after each phase (fences exist only here).
/// </summary>
public static class StepBenchmark
{
    public sealed record Options
    {
        public required AvBertConfig Config { get; init; }
        public required Device Device { get; init; }
        public Precision Precision { get; init; } = Precision.Auto;
        public int Batch { get; init; } = 8;
        public int Steps { get; init; } = 10;
        public int Warmup { get; init; } = 3;
        public BenchedStep Step { get; init; } = BenchedStep.Model;
    }

    public static StepBenchResult Run(Options o, TextWriter? log = null)
    {
        var cfg = o.Config;
        var d = cfg.Data;
        int T = d.SequenceLength, S = d.TrainCropSize;
        var precision = MixedPrecision.Setup(o.Precision, o.Device, log);
        manual_seed(0);
        using var peak = PeakMemory.Start(o.Device);
        var model = new AvBertModel(cfg.Model);
        nn.Module trained = o.Step == BenchedStep.Pretraining ? new AvBertPretrainer(model, cfg.Model, cfg.Pretrain) : model;
        trained.to(o.Device);
        ChannelsLast.Prepare(trained, o.Device);
        trained.train();
        var p = cfg.Pretrain;
        using var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(trained.named_parameters(), p.Lr, p.WeightDecay),
            new AdamOptions { Beta1 = p.Betas[0], Beta2 = p.Betas[1], Eps = p.Eps, AmsGrad = p.Amsgrad });
        var visual = randn([o.Batch, T, 3, d.NumFrames, S, S], device: o.Device);
        var audio = randn([o.Batch, T, 1, d.AudioFrequency, d.AudioTime], device: o.Device);

        Tensor Loss()
        {
            if (trained is AvBertPretrainer pre) return pre.forward(visual, audio).Total;
            var ctx = model.Contextualize(model.EncodeVisual(visual), model.EncodeAudio(audio));
            var outputs = new[] { ctx.Visual, ctx.Audio, ctx.Multimodal }.Where(x => x is not null).Select(x => x!.to(float32).pow(2).mean());
            return stack(outputs.ToArray()).sum();
        }

        var phases = new double[3];
        void OneStep(bool fenced)
        {
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            opt.ZeroGrad();
            Tensor loss;
            using (precision.Region()) loss = Loss();
            if (fenced) { Fence(o.Device); phases[0] += clock.Elapsed.TotalMilliseconds; clock.Restart(); }
            loss.backward();
            if (fenced) { Fence(o.Device); phases[1] += clock.Elapsed.TotalMilliseconds; clock.Restart(); }
            GradientTools.ClipNormOnDevice(opt, p.GradClip);
            opt.Step();
            if (fenced) { Fence(o.Device); phases[2] += clock.Elapsed.TotalMilliseconds; }
        }

        for (int i = 0; i < o.Warmup; i++) OneStep(fenced: false);
        Fence(o.Device);
        var total = Stopwatch.StartNew();
        for (int i = 0; i < o.Steps; i++) OneStep(fenced: false);
        Fence(o.Device);
        double seconds = total.Elapsed.TotalSeconds;
        int fencedSteps = Math.Max(1, Math.Min(o.Steps, 3));
        for (int i = 0; i < fencedSteps; i++) OneStep(fenced: true);
        var (bytes, source) = peak.Read();
        return new StepBenchResult(o.Step, o.Device.ToString(), precision.Precision, o.Batch, o.Batch * T,
            $"T={T} {d.NumFrames}×{S}² + {d.AudioFrequency}×{d.AudioTime}", o.Batch * T * o.Steps / seconds,
            phases[0] / fencedSteps, phases[1] / fencedSteps, phases[2] / fencedSteps, bytes, source);
    }

    /// <summary>Waits until the device has finished its queued work (a CUDA synchronize; nothing on the CPU).</summary>
    static void Fence(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }

    /// <summary>
    /// Peak memory while the benchmark runs: on CUDA the GPU memory this process holds, polled with nvidia-smi (TorchSharp
    /// exposes no allocator statistics; this is the allocator's reserved memory plus the CUDA context); on the CPU the
    /// peak resident set (VmHWM).
    /// </summary>
    sealed class PeakMemory : IDisposable
    {
        readonly Device _device;
        readonly CancellationTokenSource _stop = new();
        readonly Task? _poll;
        long _peak;
        bool _failed;

        PeakMemory(Device device)
        {
            _device = device;
            if (device.type == DeviceType.CUDA) _poll = Task.Run(Poll);
        }

        public static PeakMemory Start(Device device) => new(device);

        async Task Poll()
        {
            int pid = Environment.ProcessId;
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var psi = new ProcessStartInfo("nvidia-smi", "--query-compute-apps=pid,used_memory --format=csv,noheader,nounits")
                    { RedirectStandardOutput = true, RedirectStandardError = true };
                    using var proc = Process.Start(psi)!;
                    var text = await proc.StandardOutput.ReadToEndAsync();
                    await proc.WaitForExitAsync();
                    foreach (var line in text.Split('\n'))
                    {
                        var f = line.Split(',');
                        if (f.Length == 2 && int.TryParse(f[0].Trim(), out var p) && p == pid && long.TryParse(f[1].Trim(), out var mib))
                            _peak = Math.Max(_peak, mib * 1024 * 1024);
                    }
                }
                catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
                {
                    _failed = true;
                    return;
                }
                try { await Task.Delay(200, _stop.Token); } catch (TaskCanceledException) { }
            }
        }

        public (long Bytes, string Source) Read()
        {
            if (_device.type == DeviceType.CUDA)
                return (_peak, _failed ? "nvidia-smi not found" : "GPU memory held, nvidia-smi");
            return (Runtime.ProcessMemory.PeakResidentBytes(), "peak RSS of the process");
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _poll?.Wait(2000); } catch (AggregateException) { }
        }
    }
}
