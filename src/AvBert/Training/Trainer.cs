using System.Diagnostics;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>Loop settings (sizes come from the caller's config section).</summary>
public sealed record TrainerOptions
{
    /// <summary>Optimiser steps of the whole run (a resumed run continues to this number).</summary>
    public long Steps { get; init; }
    /// <summary>Micro-batches per optimiser step; the loss of each is divided by this before backward.</summary>
    public int Accumulation { get; init; } = 1;
    /// <summary>Global gradient-norm clip; ≤ 0 disables (the norm is still logged as grad_norm).</summary>
    public double GradClip { get; init; } = 1.0;
    public long Seed { get; init; }
    /// <summary>Write metrics every N steps (means over the steps since the last point) and at the end.</summary>
    public int LogEvery { get; init; } = 10;
    /// <summary>Checkpoint every N steps and at the end; 0: only at the end.</summary>
    public int CheckpointEvery { get; init; } = 1000;
    public int KeepCheckpoints { get; init; } = 2;
    /// <summary>What the step function counts, for the rate ("clips", "videos").</summary>
    public string ItemName { get; init; } = "clips";
    public string Title { get; init; } = "train";
    public ProgressMode Progress { get; init; } = ProgressMode.Auto;
    /// <summary>Write TensorBoard event files beside the JSONL/CSV metrics.</summary>
    public bool TensorBoard { get; init; } = true;
    /// <summary>Save a PNG of the loss curves (RUN/loss.png) at the end.</summary>
    public bool PlotCurves { get; init; } = true;
    /// <summary>Called with the 0-based step number after the gradients are complete, before the optimiser step.</summary>
    public Action<long>? BeforeOptimizerStep { get; init; }
}

/// <summary>
/// What one micro-step returns: the scalar loss to back-propagate, named scalar parts to log (detached or not: the
/// trainer detaches them; "loss" is added from <see cref="Loss"/> when absent) and how many items it processed.
/// </summary>
public sealed record StepOutput(Tensor Loss, IReadOnlyDictionary<string, Tensor> Parts, long Items);

/// <summary>The end of a run.</summary>
public sealed record TrainResult(long Step, IReadOnlyDictionary<string, double> LastValues, double Seconds, double ItemsPerSecond, string? LastCheckpoint);

/// <summary>
/// A generic training loop, nanoGPT style: data → forward → loss → backward → (accumulate) → clip → guard → step →
/// log → checkpoint. The caller brings the module, the optimiser, the schedule, a resumable data stream and a step
/// function; the loop owns seeding, the learning rate, checkpoints, metrics, the progress bar and the curves.
/// <para>Exact resume: before every micro-step torch is reseeded from (seed, step, micro); checkpoints hold weights,
/// optimiser state, step and data position; <c>openData(consumedBatches)</c> must yield the same batches from that
/// position that an uninterrupted stream would.</para>
/// </summary>
public sealed class Trainer
{
    readonly nn.Module _model;
    readonly TrainingOptimizer _optimizer;
    readonly LrSchedule _schedule;
    readonly TrainerOptions _o;
    readonly string? _runDir;

    /// <param name="model">The module whose weights are checkpointed (include every trained head).</param>
    /// <param name="runDir">RUN folder for checkpoints/, metrics.*, tb/, loss.png; null: nothing written (tests, benchmarks).</param>
    public Trainer(nn.Module model, TrainingOptimizer optimizer, LrSchedule schedule, TrainerOptions options, string? runDir)
    {
        if (options.Steps < 1) throw new ArgumentException("Steps must be >= 1");
        if (options.Accumulation < 1) throw new ArgumentException("Accumulation must be >= 1");
        _model = model;
        _optimizer = optimizer;
        _schedule = schedule;
        _o = options;
        _runDir = runDir;
        Checkpoints = runDir is null ? null : new CheckpointStore(Path.Combine(runDir, "checkpoints"), options.KeepCheckpoints);
    }

    public CheckpointStore? Checkpoints { get; }
    /// <summary>Open while <see cref="Run{TBatch}"/> runs: callbacks may write their own points (e.g. validation accuracy).</summary>
    public MetricsLog? Metrics { get; private set; }
    /// <summary>Open while <see cref="Run{TBatch}"/> runs: callbacks may print lines above the bar.</summary>
    public TrainingProgress? Progress { get; private set; }
    /// <summary>Caller values saved into every checkpoint's state.json and restored on resume.</summary>
    public Dictionary<string, string> Extra { get; private set; } = [];

    /// <summary>
    /// Trains to <see cref="TrainerOptions.Steps"/>. With <paramref name="resume"/>, continues from the newest checkpoint
    /// of the run folder (from scratch when there is none).
    /// </summary>
    /// <param name="openData">Batch i for i = the count of micro-batches already consumed onwards (see <see cref="IndexedData{TBatch}"/>).</param>
    /// <param name="step">One micro-step: forward and loss on a batch (the model is in training mode, torch is seeded).</param>
    /// <param name="onStep">After each optimiser step: (step, that step's values); e.g. evaluation, extra metrics.</param>
    public TrainResult Run<TBatch>(Func<long, IEnumerable<TBatch>> openData, Func<TBatch, StepOutput> step, bool resume = false,
                                   Action<long, IReadOnlyDictionary<string, double>>? onStep = null, CancellationToken ct = default)
        => Run(new IndexedData<TBatch>(openData), step, resume, onStep, ct);

    /// <summary>Trains to <see cref="TrainerOptions.Steps"/> on a resumable data stream (its position is saved in checkpoints).</summary>
    public TrainResult Run<TBatch>(IResumableData<TBatch> data, Func<TBatch, StepOutput> step, bool resume = false,
                                   Action<long, IReadOnlyDictionary<string, double>>? onStep = null, CancellationToken ct = default)
    {
        var state = new TrainingState { Seed = _o.Seed };
        if (resume && Checkpoints?.LoadLatest(_model, _optimizer) is { } loaded)
        {
            if (loaded.Seed != _o.Seed)
                throw new UserError($"--resume: the checkpoint was trained with seed {loaded.Seed}, the config says {_o.Seed}. Fix: resume with the run's own config.yaml.");
            state = loaded;
            Extra = new Dictionary<string, string>(loaded.Extra);
        }
        if (state.Step >= _o.Steps)
            return new TrainResult(state.Step, new Dictionary<string, double>(), 0, 0, Checkpoints?.Latest());

        Metrics = _runDir is null ? null : new MetricsLog(_runDir, resume ? state.Step : null, _o.TensorBoard);
        var clock = Stopwatch.StartNew();
        long itemsTotal = 0;
        string? lastCheckpoint = null;
        long stepNo = state.Step, consumed = state.ConsumedBatches;
        // Position after the last completed step: a step cut short (cancelled inside the data stream) is redone on resume.
        long savedConsumed = consumed;
        string? savedPosition = state.DataPosition;
        var window = new Dictionary<string, double>();
        int windowCount = 0;
        IReadOnlyDictionary<string, double> last = new Dictionary<string, double>();

        void Save()
        {
            if (Checkpoints is null) return;
            lastCheckpoint = Checkpoints.Save(_model, _optimizer, new TrainingState
            {
                Step = stepNo, ConsumedBatches = savedConsumed, DataPosition = savedPosition, Seed = _o.Seed, Extra = Extra,
            });
        }

        try
        {
            using var batches = data.Open(state.DataPosition ?? (state.ConsumedBatches > 0 ? state.ConsumedBatches.ToString(System.Globalization.CultureInfo.InvariantCulture) : null)).GetEnumerator();
            TrainingProgress.Run(_o.Title, stepNo, _o.Steps, _o.ItemName, _o.Progress, progress =>
            {
                Progress = progress;
                while (stepNo < _o.Steps)
                {
                    ct.ThrowIfCancellationRequested();
                    var values = TrainStep(batches, step, stepNo, ref consumed, out long items);
                    stepNo++;
                    savedConsumed = consumed;
                    savedPosition = data.Position;
                    itemsTotal += items;
                    last = values;
                    foreach (var (k, v) in values) window[k] = window.GetValueOrDefault(k) + v;
                    windowCount++;
                    progress.Report(stepNo, values, values["lr"], items);

                    bool end = stepNo == _o.Steps;
                    if (Metrics is not null && (stepNo % Math.Max(1, _o.LogEvery) == 0 || end))
                    {
                        var point = window.ToDictionary(kv => kv.Key, kv => kv.Value / windowCount);
                        point["lr"] = values["lr"];
                        point[$"{_o.ItemName}_per_s"] = progress.Rate;
                        Metrics.Write(stepNo, point);
                        window.Clear();
                        windowCount = 0;
                    }
                    onStep?.Invoke(stepNo, values);
                    if (end || (_o.CheckpointEvery > 0 && stepNo % _o.CheckpointEvery == 0))
                    {
                        Save();
                        if (!end) progress.Message($"checkpoint: {lastCheckpoint}");
                    }
                }
                return 0;
            });
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: keep what was done (the step in progress is dropped; its batches are re-read on resume).
            if (stepNo > state.Step) Save();
            throw;
        }
        finally
        {
            Metrics?.Dispose();
            Progress = null;
        }

        if (_runDir is not null && _o.PlotCurves)
            CurvePlots.Save(MetricsLog.Read(Path.Combine(_runDir, "metrics.jsonl")), Path.Combine(_runDir, "loss.png"));
        Metrics = null;
        double secs = clock.Elapsed.TotalSeconds;
        return new TrainResult(stepNo, last, secs, secs > 0 ? itemsTotal / secs : 0, lastCheckpoint);
    }

    /// <summary>One optimiser step over <see cref="TrainerOptions.Accumulation"/> micro-batches; returns its values (one device sync).</summary>
    Dictionary<string, double> TrainStep<TBatch>(IEnumerator<TBatch> data, Func<TBatch, StepOutput> step, long stepNo, ref long consumed, out long items)
    {
        using var scope = NewDisposeScope();
        double factor = _schedule.Factor(stepNo);
        _optimizer.SetLearningRateFactor(factor);
        _optimizer.ZeroGrad();
        _model.train();
        items = 0;
        var sums = new Dictionary<string, Tensor>();
        for (int micro = 0; micro < _o.Accumulation; micro++)
        {
            if (!data.MoveNext())
                throw new UserError($"training data ran out at step {stepNo} (micro-batch {consumed}): the data stream must repeat for as many steps as configured. " +
                                    "Fix: check that the source has usable videos (see skipped.tsv).");
            consumed++;
            Seeding.Seed(Seeding.StepSeed(_o.Seed, stepNo, micro));
            var batch = data.Current;
            var output = step(batch);
            (_o.Accumulation == 1 ? output.Loss : output.Loss / _o.Accumulation).backward();
            if (batch is IDisposable disposable) disposable.Dispose();
            items += output.Items;
            var parts = output.Parts.ContainsKey("loss") ? output.Parts : new Dictionary<string, Tensor>(output.Parts) { ["loss"] = output.Loss };
            foreach (var (k, v) in parts)
            {
                var d = v.detach().to(float64) / _o.Accumulation;
                sums[k] = sums.TryGetValue(k, out var s) ? s + d : d;
            }
        }
        double gradNorm = GradientTools.ClipNorm(_optimizer.Parameters, _o.GradClip);
        var keys = sums.Keys.ToList();
        var vals = stack(keys.Select(k => sums[k].reshape(1)).ToArray()).cpu().data<double>().ToArray();
        var values = new Dictionary<string, double>();
        // "loss" first: it leads the progress line and the logs.
        int li = keys.IndexOf("loss");
        values["loss"] = vals[li];
        for (int i = 0; i < keys.Count; i++) if (i != li) values[keys[i]] = vals[i];
        values["grad_norm"] = gradNorm;
        NonFiniteGuard.Check(stepNo + 1, values, Checkpoints?.Latest() is { } ck ? $"the last good checkpoint is {ck}" : null);
        values["lr"] = _optimizer.LearningRates[0];
        _o.BeforeOptimizerStep?.Invoke(stepNo);
        _optimizer.Step();
        return values;
    }
}
