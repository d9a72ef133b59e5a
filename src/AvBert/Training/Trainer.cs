using System.Diagnostics;
using AvBert.Storage;
using System.Runtime.InteropServices;
using AvBert.Distributed;
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
    /// <summary>Where notes and warnings about the resume go (damaged checkpoints, a re-planned schedule); stderr by default.</summary>
    public TextWriter? Warnings { get; init; }
    /// <summary>The arithmetic of the forward and loss (autocast region); null: fp32.</summary>
    public MixedPrecision? Precision { get; init; }
    /// <summary>Called with the 0-based step number after the gradients are complete, before the optimiser step.</summary>
    public Action<long>? BeforeOptimizerStep { get; init; }
    /// <summary>
    /// Called with the step number after each optimiser step (after the run's <c>onStep</c>, before the step's
    /// checkpoint); what it returns (e.g. a held-out test's metrics and a line about them) goes to the metrics log and
    /// above the progress bar.
    /// </summary>
    public Func<long, StepNote?>? AfterStep { get; init; }
}

/// <summary>
/// What one micro-step returns: the scalar loss to back-propagate, named scalar parts to log (detached or not: the
/// trainer detaches them; "loss" is added from <see cref="Loss"/> when absent) and how many items it processed.
/// </summary>
public sealed record StepOutput(Tensor Loss, IReadOnlyDictionary<string, Tensor> Parts, long Items);

/// <summary>What <see cref="TrainerOptions.AfterStep"/> adds at a step: values for the metrics log and a line for the console.</summary>
public sealed record StepNote(IReadOnlyDictionary<string, double> Metrics, string Line);

/// <summary>The end of a run.</summary>
public sealed record TrainResult(long Step, IReadOnlyDictionary<string, double> LastValues, double Seconds, double ItemsPerSecond, string? LastCheckpoint);

/// <summary>
/// A generic training loop, nanoGPT style: data → forward → loss → backward → (accumulate) → clip → guard → step →
/// log → checkpoint. The caller brings the module, the optimiser, the schedule, a resumable data stream and a step
/// function; the loop owns seeding, the learning rate, checkpoints, metrics, the progress display and the curves.
/// What a rank of a data-parallel job does besides (the same starting weights, averaged gradients, rank 0 alone
/// writing) is behind <see cref="IStepSync"/>.
/// <para>Exact resume: before every micro-step torch is reseeded from (seed, step, micro); checkpoints hold weights,
/// optimiser state, step and data position; <c>openData(consumedBatches)</c> must yield the same batches from that
/// position that an uninterrupted stream would.</para>
/// </summary>
public sealed class Trainer
{
    readonly nn.Module _model;
    readonly TrainingOptimizer _optimizer;
    LrSchedule _schedule;
    readonly TrainerOptions _o;
    readonly string? _runDir;
    readonly IStepSync _sync;

    /// <param name="model">The module whose weights are checkpointed (include every trained head).</param>
    /// <param name="runDir">RUN folder for checkpoints/, metrics.*, tb/, loss.png; null: nothing written (tests, benchmarks).</param>
    /// <param name="sync">What this process does as a rank of a data-parallel job; null: the job this process belongs to
    /// (<see cref="DataParallel.Current"/>), or none.</param>
    public Trainer(nn.Module model, TrainingOptimizer optimizer, LrSchedule schedule, TrainerOptions options, string? runDir, IStepSync? sync = null)
    {
        if (options.Steps < 1) throw new ArgumentException("Steps must be >= 1");
        if (options.Accumulation < 1) throw new ArgumentException("Accumulation must be >= 1");
        _model = model;
        _optimizer = optimizer;
        _schedule = schedule;
        _o = options;
        _runDir = runDir;
        _sync = sync ?? (DataParallel.Current is { } job ? new DataParallelSync(job) : SingleProcessSync.Instance);
        Checkpoints = runDir is null ? null : new CheckpointStore(Path.Combine(runDir, "checkpoints"), options.KeepCheckpoints)
        {
            Warnings = options.Warnings ?? Console.Error,
        };
    }

    public CheckpointStore? Checkpoints { get; }
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
        // 1. Where the run starts: the newest checkpoint (resume) or step 0; every rank from rank 0's weights.
        var start = Restore(resume);
        _sync.Start(_model);
        if (start.Step >= _o.Steps)
            return new TrainResult(start.Step, new Dictionary<string, double>(), 0, 0, Checkpoints?.Latest());

        // 2. The metrics log (rank 0), the loop's position and the window of step values not yet read back.
        var metrics = _runDir is null || !_sync.IsRoot ? null : new MetricsLog(_runDir, resume ? start.Step : null, _o.TensorBoard);
        var run = new RunPosition(start);
        var window = new DeviceWindow();
        var clock = Stopwatch.StartNew();
        try
        {
            // 3. The steps, from the saved data position: train, log, report, checkpoint.
            using var batches = data.Open(start.DataPosition ?? (start.ConsumedBatches > 0 ? start.ConsumedBatches.ToString(System.Globalization.CultureInfo.InvariantCulture) : null)).GetEnumerator();
            using var progress = TrainingProgress.Start(_o.Title, run.Step, _o.Steps, _o.ItemName, _sync.IsRoot ? _o.Progress : ProgressMode.Off);
            while (run.Step < _o.Steps)
            {
                ct.ThrowIfCancellationRequested();
                CrashContext.Set($"{_o.Title} step {run.Step + 1} of {_o.Steps}");
                using var values = TrainStep(batches, step, run.Step, ref run.Consumed, out long items);
                run.Finished(data.Position, items);
                window.Add(run.Step, values);

                bool end = run.Step == _o.Steps;
                bool checkpoint = end || (_o.CheckpointEvery > 0 && run.Step % _o.CheckpointEvery == 0);
                Log(run, window, values, metrics, progress, logPoint: run.Step % Math.Max(1, _o.LogEvery) == 0 || end, checkpoint);
                progress.Report(run.Step, run.Last, values.LearningRate, items);
                onStep?.Invoke(run.Step, values);
                if (_o.AfterStep?.Invoke(run.Step) is { } note)
                {
                    metrics?.Write(run.Step, note.Metrics);
                    progress.Message(note.Line);
                }
                if (checkpoint)
                {
                    CrashContext.Set($"writing the checkpoint of {_o.Title} step {run.Step}");
                    Save(run);
                    if (!end) progress.Message($"checkpoint: {run.LastCheckpoint}");
                }
            }
        }
        catch (IOException e) when (AtomicFile.IsDiskFull(e))
        {
            // e.g. the metrics appended every step; the checkpoints are written atomically and stay intact.
            throw AtomicFile.DiskFull(_runDir ?? ".", e);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: keep what was done (the step in progress is dropped; its batches are re-read on resume).
            if (run.Step > start.Step && _sync.SavesOnCancel) Save(run);
            throw;
        }
        finally
        {
            metrics?.Dispose();
        }

        // 4. The curves and the result.
        if (_runDir is not null && _o.PlotCurves && _sync.IsRoot)
            CurvePlots.Save(MetricsLog.Read(Path.Combine(_runDir, "metrics.jsonl")), Path.Combine(_runDir, "loss.png"));
        double secs = clock.Elapsed.TotalSeconds;
        return new TrainResult(run.Step, run.Last, secs, secs > 0 ? run.Items / secs : 0, run.LastCheckpoint);
    }

    /// <summary>
    /// The state a run starts from: with <paramref name="resume"/>, the newest intact checkpoint's (weights and optimiser
    /// loaded, <see cref="Extra"/> restored, the schedule re-planned when the run got longer); else step 0.
    /// </summary>
    TrainingState Restore(bool resume)
    {
        if (!resume || Checkpoints?.LoadLatest(_model, _optimizer) is not { } loaded)
        {
            _schedule = _schedule.Resumed(0, null, out _);
            return new TrainingState { Seed = _o.Seed };
        }
        if (loaded.Seed != _o.Seed)
            throw new UserError($"--resume: the checkpoint was trained with seed {loaded.Seed}, the config says {_o.Seed}. Fix: resume with the run's own config.yaml.");
        Extra = new Dictionary<string, string>(loaded.Extra);
        _o.Precision?.Scaler?.RestoreFrom(Extra); // [fp16] the loss scale goes on from the checkpoint's
        var before = loaded.Schedule is { Count: > 0 } saved ? saved[^1].TotalSteps : _schedule.TotalSteps;
        _schedule = _schedule.Resumed(loaded.Step, loaded.Schedule, out bool replanned);
        if (replanned)
            (_o.Warnings ?? Console.Error).WriteLine(
                $"note: the run's {_schedule.Kind.ToString().ToLowerInvariant()} schedule ended at step {before}, now {_schedule.TotalSteps}: " +
                $"the learning rate continues from its value at step {loaded.Step} (factor {_schedule.Factor(loaded.Step):0.####}) and decays to the new end" +
                (loaded.Step >= before ? " (the run had finished its decay, so it stays at the final value)" : "") + ".");
        return loaded;
    }

    /// <summary>
    /// The one read-back of the step values: at log points (their means since the last point go to the metrics log) and
    /// before checkpoints (never a checkpoint of a diverged run: <see cref="DeviceWindow.Read"/> checks them).
    /// </summary>
    void Log(RunPosition run, DeviceWindow window, StepValues values, MetricsLog? metrics, TrainingProgress progress, bool logPoint, bool checkpoint)
    {
        if (!logPoint && !checkpoint) return;
        var (mean, last) = window.Read(ResumeHint());
        run.Last = last;
        if (metrics is not null && logPoint)
            metrics.Write(run.Step, new Dictionary<string, double>(mean) { ["lr"] = values.LearningRate, [$"{_o.ItemName}_per_s"] = progress.Rate });
    }

    /// <summary>Writes a checkpoint of the last completed step (rank 0; every rank takes part in the checks before it).</summary>
    void Save(RunPosition run)
    {
        if (Checkpoints is null) return;
        _sync.BeforeCheckpoint(_model, Extra); // [data parallel] BatchNorm statistics averaged, the ranks' weights compared
        _o.Precision?.Scaler?.SaveTo(Extra);   // [fp16] the loss scale travels with the checkpoint
        if (!_sync.IsRoot) return;             // rank 0 alone writes
        run.LastCheckpoint = Checkpoints.Save(_model, _optimizer, new TrainingState
        {
            Step = run.Step, ConsumedBatches = run.SavedConsumed, DataPosition = run.SavedPosition, Seed = _o.Seed, Extra = Extra,
            Schedule = [.. _schedule.Replans],
        });
    }

    /// <summary>What a divergence message adds: the rank that saw it first (data parallel) and the last good checkpoint.</summary>
    string? ResumeHint()
    {
        var hint = Checkpoints?.Latest() is { } ck ? $"the last good checkpoint is {ck}" : null;
        var rankNote = _sync.DivergenceNote;
        if (rankNote.Length > 0) hint = hint is null ? rankNote : $"{rankNote}; {hint}";
        return hint;
    }

    /// <summary>
    /// One optimiser step over <see cref="TrainerOptions.Accumulation"/> micro-batches, without a device sync: returns its
    /// values (losses, grad_norm) as a device tensor that is read only when asked for.
    /// </summary>
    StepValues TrainStep<TBatch>(IEnumerator<TBatch> data, Func<TBatch, StepOutput> step, long stepNo, ref long consumed, out long items)
    {
        using var scope = NewDisposeScope();
        using var watch = _sync.Watch($"step {stepNo + 1}");
        _optimizer.SetLearningRateFactor(_schedule.Factor(stepNo));
        _optimizer.ZeroGrad();
        _model.train();
        var sums = new Dictionary<string, Tensor>();
        var nativeError = MicroSteps(data, step, stepNo, ref consumed, sums, out items);
        // "loss" first: it leads the progress line and the logs.
        var keys = sums.Keys.OrderBy(k => k == "loss" ? 0 : 1).ToList();
        var parts = nativeError is null ? stack(keys.Select(k => sums[k].reshape(1)).ToArray()).reshape(-1) : null;
        parts = _sync.AfterBackward(parts, nativeError, _optimizer, stepNo + 1); // [data parallel] averaged over the ranks, gradients too
        items *= _sync.Size; // the items of the whole global batch
        var scaler = _o.Precision?.Scaler; // [fp16] dynamic loss scaling; null for every other precision
        scaler?.Unscale(_optimizer);
        var gradNorm = GradientTools.ClipNormOnDevice(_optimizer, _o.GradClip);
        // [fp16] an overflowed step is skipped (weights and optimiser state untouched); its grad_norm counts as 0, and
        // loss_scale and skipped are logged beside it.
        var scaling = scaler?.Update(gradNorm, stepNo + 1, ResumeHint());
        Tensor? scaleValues = null;
        if (scaling is not null)
        {
            if (scaling.Skip) gradNorm = zeros_like(gradNorm);
            scaleValues = tensor(new[] { scaling.ScaleUsed, scaling.Skip ? 1.0 : 0.0 }, float64, device: gradNorm.device);
            keys.AddRange(["loss_scale", "skipped"]);
        }
        keys.Add("grad_norm");
        var vals = cat(scaleValues is null ? new[] { parts, gradNorm.to(float64).reshape(1) } : new[] { parts, scaleValues, gradNorm.to(float64).reshape(1) });
        double lr = _optimizer.LearningRates[0];
        _o.BeforeOptimizerStep?.Invoke(stepNo);
        if (scaling?.Skip != true) _optimizer.Step();
        return new StepValues(keys, vals.MoveToOuterDisposeScope(), lr);
    }

    /// <summary>
    /// Forward and backward of the step's micro-batches (each loss divided by their count), their logged values summed
    /// into <paramref name="sums"/> on the device. Returns a native libtorch error that the ranks of a job agree on
    /// (<see cref="IStepSync.AgreesOnNativeErrors"/>); in a single process it is thrown.
    /// </summary>
    Exception? MicroSteps<TBatch>(IEnumerator<TBatch> data, Func<TBatch, StepOutput> step, long stepNo, ref long consumed,
                                  Dictionary<string, Tensor> sums, out long items)
    {
        items = 0;
        try
        {
            for (int micro = 0; micro < _o.Accumulation; micro++)
            {
                if (!data.MoveNext())
                    throw new UserError($"training data ran out at step {stepNo} (micro-batch {consumed}): the data stream must repeat for as many steps as configured. " +
                                        "Fix: check that the source has usable videos (see skipped.tsv).");
                consumed++;
                Seeding.Seed(Seeding.StepSeed(_o.Seed, stepNo, micro) + _sync.Rank); // [data parallel] each rank its own masks
                var batch = data.Current;
                StepOutput output;
                using (_o.Precision?.Region()) output = step(batch);
                var loss = _o.Accumulation == 1 ? output.Loss : output.Loss / _o.Accumulation;
                (_o.Precision?.Scaler?.ScaleLoss(loss) ?? loss).backward(); // [fp16] loss scaling (LossScaler)
                if (batch is IDisposable disposable) disposable.Dispose();
                items += output.Items;
                var parts = output.Parts.ContainsKey("loss") ? output.Parts : new Dictionary<string, Tensor>(output.Parts) { ["loss"] = output.Loss };
                foreach (var (k, v) in parts)
                {
                    var d = v.detach().to(float64) / _o.Accumulation;
                    sums[k] = sums.TryGetValue(k, out var s) ? s + d : d;
                }
            }
        }
        catch (ExternalException e) when (_sync.AgreesOnNativeErrors) { return e; } // [data parallel] retried by every rank together
        catch (ExternalException e) when (NonFiniteGuard.FirstNonFiniteWeight(_model) is { } weight)
        {
            throw NonFiniteGuard.WeightsDiverged(stepNo + 1, weight, e, ResumeHint());
        }
        return null;
    }

    /// <summary>
    /// Where a run is: the step, the micro-batches consumed, and what a checkpoint saves — the data position after the
    /// last completed step (a step cut short, cancelled inside the data stream, is redone on resume).
    /// </summary>
    sealed class RunPosition(TrainingState start)
    {
        public long Step = start.Step;
        public long Consumed = start.ConsumedBatches;
        public long SavedConsumed = start.ConsumedBatches;
        public string? SavedPosition = start.DataPosition;
        /// <summary>Items trained on by this run (since the start or resume).</summary>
        public long Items;
        /// <summary>The last step's values as last read back.</summary>
        public IReadOnlyDictionary<string, double> Last = new Dictionary<string, double>();
        public string? LastCheckpoint;

        /// <summary>A step completed: the data stream is at <paramref name="position"/>.</summary>
        public void Finished(string position, long items)
        {
            Step++;
            SavedConsumed = Consumed;
            SavedPosition = position;
            Items += items;
        }
    }
}

/// <summary>
/// One step's named values (losses, accuracies, grad_norm) as a device tensor; reading any entry reads all of them back
/// (one device sync). Valid until the trainer moves to the next step.
/// </summary>
public sealed class StepValues(IReadOnlyList<string> keys, Tensor values, double learningRate)
    : IReadOnlyDictionary<string, double>, IDisposable
{
    Dictionary<string, double>? _read;

    public IReadOnlyList<string> Names => keys;
    /// <summary>[names] float64 on the training device.</summary>
    public Tensor Values => values;
    public double LearningRate => learningRate;

    Dictionary<string, double> Read()
    {
        if (_read is not null) return _read;
        var host = values.cpu().data<double>().ToArray();   // host read: only when a caller reads a step's values
        _read = new Dictionary<string, double>();
        for (int i = 0; i < keys.Count; i++) _read[keys[i]] = host[i];
        _read["lr"] = learningRate;
        return _read;
    }

    public double this[string key] => Read()[key];
    public IEnumerable<string> Keys => Read().Keys;
    IEnumerable<double> IReadOnlyDictionary<string, double>.Values => Read().Values;
    public int Count => Read().Count;
    public bool ContainsKey(string key) => Read().ContainsKey(key);
    public bool TryGetValue(string key, out double value) => Read().TryGetValue(key, out value);
    public IEnumerator<KeyValuePair<string, double>> GetEnumerator() => Read().GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    public void Dispose() => values.Dispose();
}

/// <summary>
/// The steps since the last read-back, kept on the device: the sum of their values, the last step's values, and the first
/// step with a non-finite value (and its values) for <see cref="NonFiniteGuard"/>.
/// </summary>
sealed class DeviceWindow
{
    IReadOnlyList<string>? _names;
    Tensor? _sum, _last, _firstBad, _firstBadValues;
    int _count;

    public void Add(long step, StepValues v)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        if (_names is not null && !_names.SequenceEqual(v.Names)) Read(null); // the parts changed: flush the window first
        _names = v.Names;
        var finite = isfinite(v.Values).all();
        if (_sum is null)
        {
            _sum = v.Values.clone().DetachFromDisposeScope();
            _firstBad = full([], -1L, dtype: int64, device: v.Values.device).DetachFromDisposeScope();
            _firstBadValues = v.Values.clone().DetachFromDisposeScope();
        }
        else _sum.add_(v.Values);
        var newBad = finite.logical_not().logical_and(_firstBad! < 0);
        _firstBad!.copy_(where(newBad, full([], step, dtype: int64, device: v.Values.device), _firstBad));
        _firstBadValues!.copy_(where(newBad, v.Values, _firstBadValues));
        _last?.Dispose();
        _last = v.Values.clone().DetachFromDisposeScope();
        _count++;
    }

    /// <summary>Reads the window back (one sync), checks it with <see cref="NonFiniteGuard"/> and starts a new one: (means, last values).</summary>
    public (Dictionary<string, double> Mean, Dictionary<string, double> Last) Read(string? resumeHint)
    {
        if (_sum is null || _names is null) return ([], []);
        using var scope = NewDisposeScope();
        var packed = cat([_sum / _count, _last!, _firstBadValues!, _firstBad!.to(float64).reshape(1)]).cpu().data<double>().ToArray();   // host read: once per log interval / checkpoint
        int n = _names.Count;
        long firstBad = (long)packed[3 * n];
        Dictionary<string, double> Slice(int from) => Enumerable.Range(0, n).ToDictionary(i => _names[i], i => packed[from + i]);
        if (firstBad >= 0) NonFiniteGuard.Check(firstBad, Slice(2 * n), resumeHint);
        var result = (Slice(0), Slice(n));
        _sum.Dispose(); _last!.Dispose(); _firstBad.Dispose(); _firstBadValues!.Dispose();
        _sum = _last = _firstBad = _firstBadValues = null;
        _count = 0;
        return result;
    }
}
