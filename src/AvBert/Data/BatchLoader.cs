using System.Collections.Concurrent;
using System.Diagnostics;
using AvBert.Runtime;
using AvBert.Data.Sources;

namespace AvBert.Data;

/// <summary>Batch size, parallelism and order of a <see cref="BatchLoader"/>.</summary>
public sealed record LoaderOptions
{
    public int BatchSize { get; init; } = 8;
    /// <summary>Decode worker threads; 0 = one per core.</summary>
    public int Workers { get; init; } = 0;
    /// <summary>Collated batches kept ready ahead of the consumer.</summary>
    public int PrefetchBatches { get; init; } = 2;
    public bool Shuffle { get; init; } = true;
    /// <summary>Drop the last, smaller batch of an epoch.</summary>
    public bool DropLast { get; init; } = false;
    public int Seed { get; init; } = 0;
    /// <summary>Data parallel: this rank's slice of every global batch (<see cref="Distributed.DataShard"/>); BatchSize is the rank's part.</summary>
    public Distributed.DataShard? Shard { get; init; }
    /// <summary>Tries after the first when a load fails for a reason that says nothing about the file (a decode timed out
    /// under load, no space for temporary files: <see cref="Media.MediaError.IsTransient"/>).</summary>
    public int TransientRetries { get; init; } = 2;
    /// <summary>Wait before the first retry; doubled before each further one.</summary>
    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromSeconds(2);

    public int ResolvedWorkers => Workers > 0 ? Workers : Math.Max(1, Environment.ProcessorCount);
}

/// <summary>Counters of a loader, over all epochs so far.</summary>
public sealed class LoaderStats
{
    long _loaded, _skipped, _batches, _waitTicks;
    public long Loaded => Interlocked.Read(ref _loaded);
    public long Skipped => Interlocked.Read(ref _skipped);
    public long Batches => Interlocked.Read(ref _batches);
    /// <summary>Time the consumer spent waiting for a batch (zero when loading keeps ahead of the model).</summary>
    public TimeSpan ConsumerWait => TimeSpan.FromTicks(Interlocked.Read(ref _waitTicks));
    internal void AddLoaded() => Interlocked.Increment(ref _loaded);
    internal void AddSkipped() => Interlocked.Increment(ref _skipped);
    internal void AddBatch() => Interlocked.Increment(ref _batches);
    internal void AddWait(TimeSpan t) => Interlocked.Add(ref _waitTicks, t.Ticks);
}

/// <summary>
/// Parallel, prefetching, deterministic batches from an <see cref="IClipDataset"/>.
/// <para>Worker threads take positions of the epoch's order (a seeded permutation) one after another and load them in
/// parallel; a collator puts the results back in order (a reorder buffer), drops the samples that failed, groups the rest
/// into batches of exactly <see cref="LoaderOptions.BatchSize"/> consecutive good samples (the last may be smaller unless
/// DropLast) and collates them into a bounded queue of ready batches. So the batches of an epoch are the same for a seed
/// whatever the worker timing, and the model only waits when decoding is slower than training.</para>
/// <para>Bad files: a sample whose load throws (missing, unreadable, corrupt, a stream missing, a decoder that hung) is
/// reported once through <c>onSkipped(path, reason)</c> — pass <c>SkippedLog.Report</c> — and left out; later epochs skip it
/// without retrying. Failures are deterministic per file, so leaving them out keeps the order deterministic. Only an epoch
/// in which every sample fails stops the run (a <see cref="UserError"/> naming the first reason). Transient failures (a
/// decode timed out under load, a full /tmp) are tried again, <see cref="LoaderOptions.TransientRetries"/> times with a
/// doubling wait; one still failing is left out of this epoch only, with a warning, and never recorded as skipped.</para>
/// <para>A dataset that loads several samples more cheaply together (<see cref="IGroupedClipDataset"/>: a training cache)
/// gets GroupSize consecutive positions per worker at a time; the batches are the same.</para>
/// <para>Memory is bounded: at most Workers·GroupSize + BatchSize samples in flight plus PrefetchBatches collated batches.
/// Cancellation (the token, or leaving the foreach early) stops the workers and their FFmpeg children and frees the batches
/// not handed out.</para>
/// </summary>
public sealed class BatchLoader
{
    readonly IClipDataset _dataset;
    readonly Action<string, string>? _onSkipped;
    readonly ConcurrentDictionary<int, string> _bad = new();
    readonly ConcurrentDictionary<string, string> _badPaths = new();
    readonly SkippedLog? _skippedLog;

    public LoaderOptions Options { get; }
    public LoaderStats Stats { get; } = new();
    public IClipDataset Dataset => _dataset;
    /// <summary>Dataset indices that failed to load (or were left out because their file had failed), with the reason.</summary>
    public IReadOnlyDictionary<int, string> BadSamples => _bad;

    /// <summary>Reports skipped files to <paramref name="skipped"/> (one line each, and RUN/skipped.tsv); files it already
    /// lists (a resumed run) are left out without being tried again.</summary>
    public BatchLoader(IClipDataset dataset, LoaderOptions options, SkippedLog? skipped = null)
        : this(dataset, options, skipped is null ? null : (path, reason) => skipped.Report(path, reason))
    {
        _skippedLog = skipped;
    }

    /// <summary>Reports skipped files to <paramref name="onSkipped"/>(path, reason).</summary>
    public BatchLoader(IClipDataset dataset, LoaderOptions options, Action<string, string>? onSkipped)
    {
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "batch size must be >= 1");
        if (options.PrefetchBatches < 1) throw new ArgumentOutOfRangeException(nameof(options), options.PrefetchBatches, "prefetch must be >= 1");
        _dataset = dataset;
        Options = options;
        _onSkipped = onSkipped;
    }

    /// <summary>Batches in an epoch when no sample fails.</summary>
    public int BatchesPerEpoch => Options.Shard is { } shard ? shard.BatchesPerEpoch(_dataset.Count, Options.BatchSize) // [data parallel]
                                : Options.DropLast ? _dataset.Count / Options.BatchSize
                                                   : (_dataset.Count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>The dataset indices of <paramref name="epoch"/> in order (before failures are left out).</summary>
    public int[] Order(int epoch)
    {
        var order = Options.Shuffle ? Seeds.Permutation(_dataset.Count, Options.Seed, epoch) : Enumerable.Range(0, _dataset.Count).ToArray();
        return Options.Shard is { } shard ? shard.RankOrder(order, Options.BatchSize) : order; // [data parallel] this rank's part
    }

    /// <summary>
    /// The batches of <paramref name="epoch"/>. <paramref name="skipBatches"/> starts later in the epoch (resuming): it skips
    /// the first skipBatches·BatchSize samples not known to be bad — the same batches the interrupted run would have
    /// produced next, provided its failures are known (pass the run's <see cref="SkippedLog"/>).
    /// The caller disposes each batch.
    /// </summary>
    public IEnumerable<VideoBatch> Epoch(int epoch, int skipBatches = 0, CancellationToken ct = default)
    {
        // Known-bad samples are left out first, then the resumed part skipped: exact when every failure before the resume
        // point is known (a SkippedLog over the same run folder remembers them across restarts).
        var order = Order(epoch).Where(i => !_bad.ContainsKey(i) && _skippedLog?.Contains(_dataset.PathOf(i)) != true)
                                .Skip(skipBatches * Options.BatchSize).ToArray();
        if (order.Length == 0) yield break;
        using var run = new EpochRun(this, order, epoch, ct);
        // [data parallel] every rank makes exactly the epoch's number of global batches.
        int left = Options.Shard is null ? int.MaxValue : BatchesPerEpoch - skipBatches;
        while (left-- > 0)
        {
            var sw = Stopwatch.StartNew();
            var batch = run.Take();
            Stats.AddWait(sw.Elapsed);
            if (batch is null)
            {
                if (Options.Shard is { } shard && left >= 0)
                    throw new UserError($"rank {shard.Rank}: too many of its files failed to fill epoch {epoch} (see skipped.tsv). Fix: remove the broken files from the source.");
                break;
            }
            Stats.AddBatch();
            yield return batch;
        }
    }

    /// <summary>True for errors that every file would hit (FFmpeg missing, out of memory): they stop the run instead of skipping.</summary>
    static bool IsFatal(Exception e) => e is OutOfMemoryException or InsufficientExecutionStackException
                                        || e is Media.FfmpegMissingError;

    /// <summary>
    /// An error inside libtorch or a plain bug of ours (a null or an index out of range) says nothing about the media file
    /// being read: such a failure is tried once more and then stops the run with its own message, never listed in
    /// skipped.tsv as if the file were bad (issue seen: a libtorch "toFloat" assertion blamed on a good video).
    /// </summary>
    internal static bool IsInternal(Exception e) =>
        e is System.Runtime.InteropServices.ExternalException or NullReferenceException or IndexOutOfRangeException or InvalidCastException;

    /// <summary>The run-stopping error for an internal failure while preparing <paramref name="path"/>.</summary>
    static InvalidOperationException Internal(string path, Exception e) => new(
        $"an internal error while preparing a sample of {path} (an error inside libtorch or AVBERT.NET, not a problem of the file, " +
        $"which is not listed in skipped.tsv): {e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}", e);

    static string Reason(Exception e) => e switch
    {
        Media.MediaError me => me.Reason,
        UserError ue => ue.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    /// <summary>One epoch in flight: the worker threads, the collator thread, the reorder buffer and the batch queue.</summary>
    sealed class EpochRun : IDisposable
    {
        readonly BatchLoader _loader;
        readonly int[] _order;
        readonly int _epoch;
        readonly CancellationTokenSource _cts;
        readonly SemaphoreSlim _window;
        readonly object _gate = new();
        readonly Result?[] _slots;
        readonly BlockingCollection<VideoBatch> _queue;
        readonly List<Thread> _threads = [];
        int _next;
        Exception? _fatal;
        /// <summary>Samples a worker takes at once (<see cref="IGroupedClipDataset.GroupSize"/>).</summary>
        readonly int _group;
        /// <summary>Held while a worker takes its window slots, so that workers never each hold part of a group's.</summary>
        readonly object _claim = new();

        sealed record Result(ClipSequence? Sample, string? Error, Exception? Fatal)
        {
            public bool Transient { get; init; }
        }

        ClipSequence LoadRetryingTransient(IClipDataset ds, int index, CancellationToken token)
        {
            var o = _loader.Options;
            var wait = o.RetryBackoff;
            for (int attempt = 0; ; attempt++)
            {
                try { return ds.Load(index, o.Seed, _epoch, token); }
                catch (Exception e) when (attempt < o.TransientRetries && Media.MediaError.IsTransient(e) && !token.IsCancellationRequested)
                {
                    if (token.WaitHandle.WaitOne(wait)) token.ThrowIfCancellationRequested();
                    wait *= 2;
                }
            }
        }

        public EpochRun(BatchLoader loader, int[] order, int epoch, CancellationToken ct)
        {
            _loader = loader;
            _order = order;
            _epoch = epoch;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var o = loader.Options;
            int workers = Math.Min(o.ResolvedWorkers, order.Length);
            _group = loader._dataset is IGroupedClipDataset g ? Math.Max(1, g.GroupSize) : 1;
            _window = new SemaphoreSlim(workers * _group + o.BatchSize);
            _slots = new Result?[order.Length];
            _queue = new BlockingCollection<VideoBatch>(o.PrefetchBatches);
            for (int w = 0; w < workers; w++)
                _threads.Add(new Thread(Work) { IsBackground = true, Name = $"avbert-loader-{w}" });
            _threads.Add(new Thread(Collate) { IsBackground = true, Name = "avbert-collator" });
            foreach (var t in _threads) t.Start();
        }

        /// <summary>The next batch in order, or null at the end of the epoch.</summary>
        public VideoBatch? Take()
        {
            try
            {
                if (_queue.TryTake(out var b, Timeout.Infinite, _cts.Token)) return b;
            }
            catch (OperationCanceledException) when (_fatal is not null) { }
            if (_fatal is not null) throw _fatal is UserError or OutOfMemoryException ? _fatal : new InvalidOperationException($"data loading failed: {_fatal.Message}", _fatal);
            _cts.Token.ThrowIfCancellationRequested();
            return null;
        }

        void Work()
        {
            var token = _cts.Token;
            var ds = _loader._dataset;
            try
            {
                while (true)
                {
                    lock (_claim) for (int i = 0; i < _group; i++) _window.Wait(token);
                    int p0 = Interlocked.Add(ref _next, _group) - _group;
                    int n = Math.Clamp(_order.Length - p0, 0, _group);
                    if (n < _group) _window.Release(_group - n);
                    if (n == 0) return;
                    var results = new Result?[n];
                    var together = new List<int>(n);
                    for (int i = 0; i < n; i++)
                    {
                        // Another view of a file that already failed fails the same way: do not decode it again.
                        if (_loader._badPaths.TryGetValue(ds.PathOf(_order[p0 + i]), out var known)) results[i] = new Result(null, known, null);
                        else together.Add(i);
                    }
                    if (_group > 1 && together.Count > 1)
                    {
                        var loaded = ((IGroupedClipDataset)ds).LoadGroup(together.Select(i => _order[p0 + i]).ToArray(), _loader.Options.Seed, _epoch, token);
                        for (int j = 0; j < together.Count; j++)
                            // A failure that may pass (a timeout under load) is tried again alone, with the usual retries.
                            results[together[j]] = loaded[j].Error is { } e && !Media.MediaError.IsTransient(e) && !IsInternal(e) ? Failed(e)
                                                 : loaded[j].Sample is { } sample ? new Result(sample, null, null) : null;
                    }
                    for (int i = 0; i < n; i++)
                        results[i] ??= Load(ds, _order[p0 + i], token);
                    lock (_gate)
                    {
                        for (int i = 0; i < n; i++) _slots[p0 + i] = results[i];
                        Monitor.PulseAll(_gate);
                    }
                }
            }
            catch (OperationCanceledException) { }
            catch (ObjectDisposedException) { }
        }

        /// <summary>One sample loaded alone (transient failures retried); cancellation propagates.</summary>
        Result Load(IClipDataset ds, int index, CancellationToken token)
        {
            for (int attempt = 0; ; attempt++)
                try { return new Result(LoadRetryingTransient(ds, index, token), null, null); }
                catch (OperationCanceledException) when (token.IsCancellationRequested) { throw; }
                catch (Exception e) when (IsInternal(e) && attempt == 0) { }   // once more: it may not happen again
                catch (Exception e) when (IsInternal(e)) { return new Result(null, null, Internal(ds.PathOf(index), e)); }
                catch (Exception e) { return Failed(e); }
        }

        static Result Failed(Exception e) => IsFatal(e) ? new Result(null, null, e)
                                             : new Result(null, Reason(e), null) { Transient = Media.MediaError.IsTransient(e) };

        void Collate()
        {
            var token = _cts.Token;
            var o = _loader.Options;
            var pending = new List<ClipSequence>(o.BatchSize);
            string? firstError = null;
            int good = 0;
            try
            {
                for (int p = 0; p < _order.Length; p++)
                {
                    Result r;
                    lock (_gate)
                    {
                        while (_slots[p] is null)
                        {
                            token.ThrowIfCancellationRequested();
                            Monitor.Wait(_gate, 100);
                        }
                        r = _slots[p]!;
                        _slots[p] = null;
                    }
                    _window.Release();
                    if (r.Fatal is not null) throw r.Fatal;
                    if (r.Error is not null && r.Transient)
                    {
                        // Not the file's fault: left out of this epoch only, and not recorded as skipped.
                        _loader.Stats.AddSkipped();
                        Console.Error.WriteLine($"warning: {_loader._dataset.PathOf(_order[p])}: {r.Error} " +
                                                $"(tried {o.TransientRetries + 1} times; left out of this epoch only)");
                        firstError ??= $"{_loader._dataset.PathOf(_order[p])}: {r.Error}";
                        continue;
                    }
                    if (r.Error is not null)
                    {
                        int index = _order[p];
                        firstError ??= $"{_loader._dataset.PathOf(index)}: {r.Error}";
                        var path = _loader._dataset.PathOf(index);
                        _loader._bad.TryAdd(index, r.Error);
                        if (_loader._badPaths.TryAdd(path, r.Error))     // one report per file, whatever its views
                        {
                            _loader.Stats.AddSkipped();
                            _loader._onSkipped?.Invoke(path, r.Error);
                        }
                        continue;
                    }
                    good++;
                    _loader.Stats.AddLoaded();
                    pending.Add(r.Sample!);
                    if (pending.Count == o.BatchSize) Emit(pending, token);
                }
                if (pending.Count > 0 && !o.DropLast && o.Shard is null) Emit(pending, token);
                if (good == 0)
                    throw new UserError($"none of the {_order.Length} samples of this epoch could be loaded (first: {firstError}). " +
                                        "Fix: check the data path and the files (see skipped.tsv).");
                _queue.CompleteAdding();
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested) { }
            catch (Exception e)
            {
                _fatal = e;
                _cts.Cancel();
            }
        }

        void Emit(List<ClipSequence> pending, CancellationToken token)
        {
            var batch = VideoBatch.Collate(pending);
            pending.Clear();
            try { _queue.Add(batch, token); }
            catch { batch.Dispose(); throw; }
        }

        public void Dispose()
        {
            _cts.Cancel();
            foreach (var t in _threads) t.Join();
            while (_queue.TryTake(out var b)) b.Dispose();
            _queue.Dispose();
            _window.Dispose();
            _cts.Dispose();
        }
    }
}
