using System.Diagnostics;
using AvBert.Config;
using AvBert.Data;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Synthetic;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;
using AvBert.Pretraining;

namespace AvBert.Runs;

/// <summary>Which training step <see cref="StepBenchmark"/> measures.</summary>
public enum BenchedStep
{
    /// <summary>The full model (both CNNs, Transformers) with a plain loss: what a PyTorch reference step measures.</summary>
    Model,
    /// <summary>The real pretraining step: the model plus MEP (with the configured sampler, CANS by default) and CPP.</summary>
    Pretraining,
    /// <summary>The real pretraining step fed by the real loader (<see cref="BatchLoader"/>) over toy-av videos rendered on the CPU.</summary>
    Loader,
}

/// <summary>One measured configuration.</summary>
/// <param name="ClipsPerSecond">Throughput of steps run back to back with no fence inside (the real rate).</param>
/// <param name="DataMs">Mean time to get a batch onto the device, fenced (0: synthetic inputs already there). Likewise
/// <paramref name="ForwardMs"/> (forward + loss), <paramref name="BackwardMs"/>, <paramref name="OptimizerMs"/> (clip + step).</param>
/// <param name="DataWaitMs">Loader step: mean time per unfenced step the trainer waited for the loader (null otherwise).</param>
/// <param name="Workers">Loader step: the loader's decode threads (null otherwise).</param>
/// <param name="PeakBytes">Peak memory: on CUDA the caching allocator's peak allocated bytes (else the GPU memory the
/// process held, from nvidia-smi), on the CPU the peak RSS; 0 if unknown.</param>
public sealed record StepBenchResult(BenchedStep Step, string Device, Precision Precision, int Batch, int Clips, string Geometry,
                                     double ClipsPerSecond, double DataMs, double ForwardMs, double BackwardMs, double OptimizerMs,
                                     double? DataWaitMs, int? Workers, long PeakBytes, string PeakSource)
{
    public string Summary =>
        $"{Step.ToString().ToLowerInvariant(),-11} {Device,-6} {Precision.ToString().ToLowerInvariant(),-4} B={Batch,-3} {Geometry}" +
        (Workers is { } w ? $" workers={w}" : "") + ": " +
        $"{ClipsPerSecond,8:0.0} clips/s | data {DataMs:0.0} ms, forward {ForwardMs:0.0} ms, backward {BackwardMs:0.0} ms, optimiser {OptimizerMs:0.0} ms" +
        (DataWaitMs is { } wait ? $" | waiting for data {wait:0.0} ms/step" : "") + " | " +
        $"peak {(PeakBytes > 0 ? $"{PeakBytes / (1024.0 * 1024 * 1024):0.00} GiB" : "n/a")} ({PeakSource})";
}

/// <summary>
/// Times a training step: forward + loss in the chosen precision, backward, gradient clipping and the fused AdamW
/// (AMSGrad) step, exactly as <see cref="Trainer"/> runs them. The model and pretraining steps run on synthetic inputs
/// created on the device (no data loading); the loader step runs the pretraining step on batches of the real loader over
/// toy-av videos (rendered and turned into clips and log-mel on the CPU, as <c>pretrain --data toy-av</c> does).
/// Warm-up steps (allocator growth, cudnn.benchmark's search) are left out. Throughput comes from steps run back to back;
/// the phase breakdown (data, forward, backward, optimiser) from separate steps with a device fence after each phase
/// (fences exist only here, never in training).
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
        /// <summary>Loader step: decode threads of the loader (as <c>--workers</c>: 0 is one per core).</summary>
        public int Workers { get; init; } = 1;
    }

    /// <summary>
    /// Every combination of <paramref name="steps"/>, <paramref name="batches"/> and <paramref name="precisions"/>, one
    /// result each as it finishes; loader steps once per worker count. bf16 runs last: on the CPU it switches oneDNN off
    /// for the rest of the process (MixedPrecision), which would slow the other precisions.
    /// </summary>
    public static IEnumerable<StepBenchResult> Sweep(AvBertConfig config, Device device, IEnumerable<BenchedStep> steps, IEnumerable<int> batches,
                                                     IEnumerable<Precision> precisions, int stepCount, IReadOnlyList<int> workerCounts)
    {
        var ordered = precisions.Distinct().OrderBy(x => x == Precision.Bf16).ToArray();
        foreach (var s in steps)
            foreach (var b in batches)
                foreach (var p in ordered)
                    foreach (var w in s == BenchedStep.Loader ? workerCounts : [1])
                        yield return Run(new Options { Config = config, Device = device, Precision = p, Batch = b, Steps = stepCount, Step = s, Workers = w });
    }

    public static StepBenchResult Run(Options o, TextWriter? log = null)
    {
        using var scope = NewDisposeScope();           // every tensor of this configuration goes before the next one
        var cfg = o.Config;
        var d = cfg.Data;
        int T = d.SequenceLength, S = d.TrainCropSize;
        var precision = MixedPrecision.Setup(o.Precision, o.Device, log, cfg.Train);
        manual_seed(0);
        using var peak = PeakMemory.Start(o.Device);
        var model = new AvBertModel(cfg.Model);
        nn.Module trained = o.Step != BenchedStep.Model ? new AvBertPretrainer(model, cfg.Model, cfg.Pretrain) : model;
        trained.to(o.Device);
        ChannelsLast.Prepare(trained, o.Device);
        ActivationCheckpoint.Apply(trained, cfg.Train.CheckpointActivations);
        trained.train();
        var p = cfg.Pretrain;
        using var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(trained.named_parameters(), p.Lr, p.WeightDecay),
            new AdamOptions { Beta1 = p.Betas[0], Beta2 = p.Betas[1], Eps = p.Eps, AmsGrad = p.Amsgrad });
        int fencedSteps = Math.Max(1, Math.Min(o.Steps, 3));
        using var batches = o.Step == BenchedStep.Loader ? new LoaderBatches(cfg, o, o.Warmup + o.Steps + fencedSteps) : null;
        var visual = batches is null ? randn([o.Batch, T, 3, d.NumFrames, S, S], device: o.Device) : null;
        var audio = batches is null ? randn([o.Batch, T, 1, d.AudioFrequency, d.AudioTime], device: o.Device) : null;

        Tensor Loss(Tensor v, Tensor a)
        {
            if (trained is AvBertPretrainer pre) return pre.forward(v, a).Total;
            var ctx = model.Contextualize(model.EncodeVisual(v), model.EncodeAudio(a));
            var outputs = new[] { ctx.Visual, ctx.Audio, ctx.Multimodal }.Where(x => x is not null).Select(x => x!.to(float32).pow(2).mean());
            return stack(outputs.ToArray()).sum();
        }

        var phases = new double[4];
        void OneStep(bool fenced)
        {
            using var stepScope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            var (v, a) = batches?.Next() ?? (visual!, audio!);
            if (fenced) { Fence(o.Device); phases[0] += clock.Elapsed.TotalMilliseconds; clock.Restart(); }
            opt.ZeroGrad();
            Tensor loss;
            using (precision.Region()) loss = Loss(v, a);
            if (fenced) { Fence(o.Device); phases[1] += clock.Elapsed.TotalMilliseconds; clock.Restart(); }
            (precision.Scaler?.ScaleLoss(loss) ?? loss).backward();
            if (fenced) { Fence(o.Device); phases[2] += clock.Elapsed.TotalMilliseconds; clock.Restart(); }
            precision.Scaler?.Unscale(opt);
            var norm = GradientTools.ClipNormOnDevice(opt, p.GradClip);
            if (precision.Scaler?.Update(norm, 0).Skip != true) opt.Step();   // fp16: as the trainer, an overflowed step is skipped
            if (fenced) { Fence(o.Device); phases[3] += clock.Elapsed.TotalMilliseconds; }
        }

        for (int i = 0; i < o.Warmup; i++) OneStep(fenced: false);
        Fence(o.Device);
        peak.Restart();
        var waitBefore = batches?.Waited ?? TimeSpan.Zero;
        var total = Stopwatch.StartNew();
        for (int i = 0; i < o.Steps; i++) OneStep(fenced: false);
        Fence(o.Device);
        double seconds = total.Elapsed.TotalSeconds;
        double? waitMs = batches is null ? null : (batches.Waited - waitBefore).TotalMilliseconds / o.Steps;
        for (int i = 0; i < fencedSteps; i++) OneStep(fenced: true);
        var (bytes, source) = peak.Read();
        return new StepBenchResult(o.Step, o.Device.ToString(), precision.Precision, o.Batch, o.Batch * T,
            $"T={T} {d.NumFrames}×{S}² + {d.AudioFrequency}×{d.AudioTime}" +
            (cfg.Train.CheckpointActivations switch
            {
                CheckpointActivations.None => "",
                CheckpointActivations.CnnBlocks => " checkpoint=cnn_blocks",
                var m => $" checkpoint={m.ToString().ToLowerInvariant()}",
            }), o.Batch * T * o.Steps / seconds,
            phases[0] / fencedSteps, phases[1] / fencedSteps, phases[2] / fencedSteps, phases[3] / fencedSteps,
            waitMs, batches?.Workers, bytes, source);
    }

    /// <summary>Batches of the real loader over toy-av videos (enough for the whole benchmark), moved to the device as
    /// <c>pretrain</c> moves them; <see cref="Waited"/> is the loader's count of the time its consumer waited.</summary>
    sealed class LoaderBatches : IDisposable
    {
        readonly BatchLoader _loader;
        readonly IEnumerator<VideoBatch> _epoch;
        readonly Device _device;
        VideoBatch? _current;

        public LoaderBatches(AvBertConfig cfg, Options o, int steps)
        {
            var toy = new ToyAv(new ToyAvOptions { Seed = cfg.Pretrain.Seed }, cfg.Data);
            var dataset = new ToyAvClipDataset(toy, ToyAvSplit.Train, steps * o.Batch, freshEachEpoch: true);
            _loader = new BatchLoader(dataset, new LoaderOptions { BatchSize = o.Batch, Workers = o.Workers, Shuffle = true, DropLast = true, Seed = cfg.Pretrain.Seed });
            _epoch = _loader.Epoch(0).GetEnumerator();
            _device = o.Device;
            Workers = _loader.Options.ResolvedWorkers;
        }

        public int Workers { get; }
        public TimeSpan Waited => _loader.Stats.ConsumerWait;

        public (Tensor Visual, Tensor Audio) Next()
        {
            _current?.Dispose();
            if (!_epoch.MoveNext()) throw new InvalidOperationException("the benchmark's toy-av epoch ran out of batches");
            _current = _epoch.Current;
            if (_current.Visual is null || _current.Audio is null) throw new InvalidOperationException("pretraining needs both modalities");
            var (visual, audio) = _current.ToDevice(_device);
            return (visual!, audio!);
        }

        public void Dispose()
        {
            _current?.Dispose();
            _epoch.Dispose();       // stops the workers
        }
    }

    /// <summary>Waits until the device has finished its queued work (a CUDA synchronize; nothing on the CPU).</summary>
    static void Fence(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }

    /// <summary>
    /// Peak memory of the timed steps: on CUDA the caching allocator's peak allocated bytes (<see cref="DeviceMemory"/>,
    /// reset after the warm-up), else — a libtorch that does not export the statistics — the GPU memory this process
    /// holds, polled with nvidia-smi (the allocator's reserved memory plus the CUDA context); on the CPU the peak
    /// resident set of the process (VmHWM).
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
            if (DeviceMemory.Unavailable(device) is null) DeviceMemory.ResetPeak(device);
            else if (device.type == DeviceType.CUDA) _poll = Task.Run(Poll);
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

        /// <summary>Peaks from now on (the allocator's; nvidia-smi and VmHWM cannot be reset).</summary>
        public void Restart() => DeviceMemory.ResetPeak(_device);

        public (long Bytes, string Source) Read()
        {
            if (_device.type == DeviceType.CUDA)
            {
                if (DeviceMemory.ReadPeak(_device, out var why) is { } p)
                    return (p.AllocatedBytes, $"CUDA caching allocator: peak allocated; reserved {p.ReservedBytes / (1024.0 * 1024 * 1024):0.00} GiB");
                return (_peak, _failed ? $"nvidia-smi not found; allocator statistics {why}" : $"GPU memory held, nvidia-smi; allocator statistics {why}");
            }
            return (Runtime.ProcessMemory.PeakResidentBytes(), "peak RSS of the process");
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _poll?.Wait(2000); } catch (AggregateException) { }
        }
    }
}
