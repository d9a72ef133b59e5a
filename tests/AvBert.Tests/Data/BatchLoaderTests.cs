using AvBert.Data;
using AvBert.Runtime;
using AvBert.Data.Sources;

namespace AvBert.Tests.Data;

public class BatchLoaderTests
{
    /// <summary>Items whose content depends only on (seed, epoch, index); loads take a random, unseeded time.</summary>
    sealed class FakeDataset(int count, Func<int, bool>? bad = null, int maxDelayMs = 0, Action<int, CancellationToken>? onLoad = null) : IClipDataset
    {
        public int Count => count;
        public int Started;
        public string PathOf(int index) => $"item{index}.mp4";

        public ClipSequence Load(int index, int seed, int epoch, CancellationToken ct)
        {
            Interlocked.Increment(ref Started);
            onLoad?.Invoke(index, ct);
            if (maxDelayMs > 0) Thread.Sleep(Random.Shared.Next(maxDelayMs));
            if (bad?.Invoke(index) == true) throw new UserError($"item{index}.mp4: broken on purpose");
            var rng = Seeds.ForItem(seed, epoch, index);
            var visual = new float[2 * 3];
            for (int i = 0; i < visual.Length; i++) visual[i] = index * 1000 + (float)rng.NextDouble();
            return new ClipSequence
            {
                Index = index, ItemIndex = index, Path = PathOf(index), Labels = [index % 5],
                VisualInput = visual, VisualShape = [2, 3], Audio = [index], AudioShape = [1],
            };
        }
    }

    /// <summary>The same items, loaded in groups of <paramref name="group"/> (as a training cache loads); counts the groups.</summary>
    sealed class GroupedDataset(FakeDataset inner, int group) : IGroupedClipDataset
    {
        public int Groups;
        public int Count => inner.Count;
        public int GroupSize => group;
        public string PathOf(int index) => inner.PathOf(index);
        public ClipSequence Load(int index, int seed, int epoch, CancellationToken ct) => inner.Load(index, seed, epoch, ct);
        public (ClipSequence? Sample, Exception? Error)[] LoadGroup(IReadOnlyList<int> indices, int seed, int epoch, CancellationToken ct)
        {
            Assert.InRange(indices.Count, 2, group);
            Interlocked.Increment(ref Groups);
            return indices.Select(i =>
            {
                try { return ((ClipSequence?)inner.Load(i, seed, epoch, ct), (Exception?)null); }
                catch (UserError e) { return (null, e); }
            }).ToArray();
        }
    }

    [Fact]
    public void Grouped_loading_gives_the_same_batches_and_leaves_out_the_same_bad_samples()
    {
        bool Bad(int i) => i % 7 == 3;
        var one = Collect(new BatchLoader(new FakeDataset(23, Bad), new LoaderOptions { BatchSize = 4, Workers = 1, Seed = 7 }), epoch: 2);
        var grouped = new GroupedDataset(new FakeDataset(23, Bad, maxDelayMs: 5), group: 3);
        var skipped = new List<string>();
        var many = Collect(new BatchLoader(grouped, new LoaderOptions { BatchSize = 4, Workers = 3, Seed = 7 }, (p, _) => { lock (skipped) skipped.Add(p); }), epoch: 2);
        Assert.True(grouped.Groups >= 23 / 3 - 1, $"{grouped.Groups} groups");
        Assert.Equal(one.Select(b => b.Indices), many.Select(b => b.Indices));
        Assert.Equal(one.Select(b => b.Visual), many.Select(b => b.Visual));
        Assert.Equal(new[] { "item10.mp4", "item17.mp4", "item3.mp4" }, skipped.Order());
    }

    static List<(int[] Indices, float[] Visual)> Collect(BatchLoader loader, int epoch)
    {
        var list = new List<(int[], float[])>();
        foreach (var b in loader.Epoch(epoch))
            using (b) list.Add((b.Indices, b.Visual!.data<float>().ToArray()));
        return list;
    }

    [Fact]
    public void Batches_are_the_same_for_a_seed_whatever_the_worker_count_and_timing()
    {
        var one = Collect(new BatchLoader(new FakeDataset(23), new LoaderOptions { BatchSize = 4, Workers = 1, Seed = 7 }), epoch: 3);
        var many = Collect(new BatchLoader(new FakeDataset(23, maxDelayMs: 15), new LoaderOptions { BatchSize = 4, Workers = 6, Seed = 7 }), epoch: 3);
        Assert.Equal(6, one.Count);                                   // 5 full batches + 3 left over
        Assert.Equal(one.Select(b => b.Indices), many.Select(b => b.Indices));
        Assert.Equal(one.Select(b => b.Visual), many.Select(b => b.Visual));
        Assert.Equal(Enumerable.Range(0, 23), one.SelectMany(b => b.Indices).Order());   // every item once

        var otherEpoch = Collect(new BatchLoader(new FakeDataset(23), new LoaderOptions { BatchSize = 4, Workers = 2, Seed = 7 }), epoch: 4);
        Assert.NotEqual(one.SelectMany(b => b.Indices), otherEpoch.SelectMany(b => b.Indices));
    }

    [Fact]
    public void Collated_batch_stacks_samples_with_labels_and_paths()
    {
        var loader = new BatchLoader(new FakeDataset(5), new LoaderOptions { BatchSize = 3, Shuffle = false, Workers = 2 });
        var batches = loader.Epoch(0).ToList();
        try
        {
            Assert.Equal(new long[] { 3, 2, 3 }, batches[0].Visual!.shape);
            Assert.Equal(new long[] { 2, 1 }, batches[1].Audio!.shape);
            Assert.Equal(new[] { 0, 1, 2 }, batches[0].Indices);
            Assert.Equal(new[] { "item3.mp4", "item4.mp4" }, batches[1].Paths);
            Assert.Equal(new long[] { 0, 1, 2 }, batches[0].Targets().data<long>().ToArray());
            Assert.Equal(new float[] { 0, 0, 0, 1, 0,  0, 0, 0, 0, 1 }, batches[1].MultiHot(5).data<float>().ToArray());
        }
        finally { foreach (var b in batches) b.Dispose(); }
    }

    [Fact]
    public void Bad_samples_are_reported_once_left_out_and_batches_stay_full()
    {
        var skipped = new List<string>();
        var ds = new FakeDataset(20, bad: i => i % 7 == 3, maxDelayMs: 3);
        var loader = new BatchLoader(ds, new LoaderOptions { BatchSize = 4, Workers = 3, Seed = 1, DropLast = true },
                                     (path, reason) => { lock (skipped) skipped.Add($"{path}\t{reason}"); });
        var e0 = Collect(loader, 0);
        var e1 = Collect(loader, 1);
        Assert.Equal(new[] { "item10.mp4", "item17.mp4", "item3.mp4" }, skipped.Select(s => s.Split('\t')[0]).Order());
        Assert.All(skipped, s => Assert.Contains("broken on purpose", s));
        Assert.Equal(3, loader.BadSamples.Count);
        foreach (var epoch in new[] { e0, e1 })
        {
            Assert.Equal(4, epoch.Count);                              // 17 good samples -> 4 full batches, remainder dropped
            Assert.All(epoch, b => Assert.Equal(4, b.Indices.Length));
            Assert.DoesNotContain(epoch.SelectMany(b => b.Indices), i => i % 7 == 3);
        }
        // The good samples come in the epoch's order.
        var expected = loader.Order(0).Where(i => i % 7 != 3).Take(16);
        Assert.Equal(expected, e0.SelectMany(b => b.Indices));
    }

    [Fact]
    public void An_epoch_where_every_sample_fails_stops_with_a_user_error()
    {
        var loader = new BatchLoader(new FakeDataset(5, bad: _ => true), new LoaderOptions { BatchSize = 2, Workers = 2 });
        var e = Assert.Throws<UserError>(() => loader.Epoch(0).ToList());
        Assert.Contains("none of the 5 samples", e.Message);
    }

    [Fact]
    public void Unexpected_fatal_errors_stop_the_run_instead_of_being_skipped()
    {
        var loader = new BatchLoader(new FakeDataset(8, onLoad: (i, _) => { if (i == 5) throw new OutOfMemoryException("boom"); }),
                                     new LoaderOptions { BatchSize = 2, Workers = 2, Shuffle = false });
        // Out of memory keeps its type, so the CLI reports it as such (exit code 4, with a hint); other fatal errors are wrapped.
        Assert.Throws<OutOfMemoryException>(() => { foreach (var b in loader.Epoch(0)) b.Dispose(); });
        var deep = new BatchLoader(new FakeDataset(8, onLoad: (i, _) => { if (i == 5) throw new InsufficientExecutionStackException("deep"); }),
                                   new LoaderOptions { BatchSize = 2, Workers = 2, Shuffle = false });
        var e = Assert.Throws<InvalidOperationException>(() => { foreach (var b in deep.Epoch(0)) b.Dispose(); });
        Assert.IsType<InsufficientExecutionStackException>(e.InnerException);
    }

    [Fact]
    public void An_error_inside_libtorch_is_never_blamed_on_the_file_it_was_preparing()
    {
        // Every time: the run stops with its own message naming it internal; the file is not reported as skipped.
        var skipped = new List<string>();
        var always = new BatchLoader(new FakeDataset(8, onLoad: (i, _) =>
            { if (i == 5) throw new System.Runtime.InteropServices.ExternalException("Expected false to be true, but got false. (toFloat at c10/core/Scalar.h)"); }),
            new LoaderOptions { BatchSize = 2, Workers = 2, Shuffle = false }, (path, _) => skipped.Add(path));
        var e = Assert.Throws<InvalidOperationException>(() => { foreach (var b in always.Epoch(0)) b.Dispose(); });
        Assert.Contains("item5.mp4", e.Message);
        Assert.Contains("not a problem of the file", e.Message);
        Assert.Empty(skipped);

        // Once: tried again, and the sample loads.
        int failures = 0;
        var once = new BatchLoader(new FakeDataset(8, onLoad: (i, _) =>
            { if (i == 5 && Interlocked.Increment(ref failures) == 1) throw new System.Runtime.InteropServices.ExternalException("flaky"); }),
            new LoaderOptions { BatchSize = 2, Workers = 2, Shuffle = false }, (path, _) => skipped.Add(path));
        var indices = new List<int>();
        foreach (var b in once.Epoch(0)) { indices.AddRange(b.Indices); b.Dispose(); }
        Assert.Equal(Enumerable.Range(0, 8), indices);
        Assert.Empty(skipped);
    }

    [Fact]
    public async Task Leaving_early_or_cancelling_stops_the_workers_and_does_not_hang()
    {
        // Items from 8 on block until cancelled, as a hung decoder would.
        var cancelledLoads = 0;
        var ds = new FakeDataset(100, onLoad: (i, ct) =>
        {
            if (i < 8) return;
            ct.WaitHandle.WaitOne();
            Interlocked.Increment(ref cancelledLoads);
            ct.ThrowIfCancellationRequested();
        });
        var loader = new BatchLoader(ds, new LoaderOptions { BatchSize = 4, Workers = 3, Shuffle = false });

        var run = Task.Run(() =>
        {
            foreach (var b in loader.Epoch(0)) { b.Dispose(); break; }      // leave after the first batch
        });
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))));   // leaving the loop early must not hang

        using var cts = new CancellationTokenSource();
        var run2 = Task.Run(() =>
        {
            foreach (var b in loader.Epoch(1, ct: cts.Token)) { b.Dispose(); if (b.Indices[0] == 4) cts.Cancel(); }
        });
        Assert.Same(run2, await Task.WhenAny(run2, Task.Delay(TimeSpan.FromSeconds(30))));
        Assert.True(run2.IsCanceled || run2.Exception?.InnerException is OperationCanceledException);
        Assert.True(cancelledLoads > 0);
    }

    [Fact]
    public void Loading_runs_ahead_of_the_consumer_only_by_a_bounded_amount()
    {
        var ds = new FakeDataset(200);
        var o = new LoaderOptions { BatchSize = 4, Workers = 3, PrefetchBatches = 2, Shuffle = false };
        var loader = new BatchLoader(ds, o);
        using var e = loader.Epoch(0).GetEnumerator();
        Assert.True(e.MoveNext());
        e.Current.Dispose();
        Thread.Sleep(300);                                            // let the workers fill every buffer
        // consumed 1 batch + PrefetchBatches queued + one batch being collated + window of Workers + BatchSize.
        int bound = o.BatchSize * (1 + o.PrefetchBatches + 1) + o.Workers + o.BatchSize;
        Assert.InRange(ds.Started, o.BatchSize, bound);
    }

    [Fact]
    public void Skipping_batches_resumes_at_the_same_samples()
    {
        var loader = new BatchLoader(new FakeDataset(17), new LoaderOptions { BatchSize = 3, Workers = 2, Seed = 5 });
        var full = Collect(loader, 2);
        var resumed = new List<int[]>();
        foreach (var b in loader.Epoch(2, skipBatches: 2)) using (b) resumed.Add(b.Indices);
        Assert.Equal(full.Skip(2).Select(b => b.Indices), resumed);
    }

    [Fact]
    public void A_resumed_run_with_its_skipped_log_continues_with_the_same_batches_despite_bad_files()
    {
        var runDir = TestSetup.TempDir("resume");
        var ds = new FakeDataset(30, bad: i => i % 5 == 1);
        var o = new LoaderOptions { BatchSize = 4, Workers = 3, Seed = 9 };
        var full = Collect(new BatchLoader(ds, o, new SkippedLog(runDir, TextWriter.Null)), 0);

        var restarted = new BatchLoader(ds, o, new SkippedLog(runDir, TextWriter.Null, resume: true));   // a new process: the log is re-read
        var resumed = new List<int[]>();
        foreach (var b in restarted.Epoch(0, skipBatches: 3)) using (b) resumed.Add(b.Indices);
        Assert.Equal(full.Skip(3).Select(b => b.Indices), resumed);
        Directory.Delete(runDir, true);
    }

    [Fact]
    public void A_transient_failure_is_retried_and_loads_instead_of_becoming_a_skip()
    {
        var failures = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var ds = new FakeDataset(6, onLoad: (i, _) =>
        {
            if (i == 2 && failures.AddOrUpdate(i, 1, (_, n) => n + 1) <= 2) // a decode that times out twice under load
                throw new AvBert.Media.MediaError("item2.mp4", "ffmpeg gave no result within 120 s (hung or too slow), killed") { Transient = true };
            if (i == 4) throw new IOException("No space left on device : '/tmp/avbert-clips-x/clip0.rgb'", 28); // /tmp full
        });
        var reported = new List<string>();
        var o = new LoaderOptions { BatchSize = 2, Workers = 2, Shuffle = false, RetryBackoff = TimeSpan.FromMilliseconds(1) };
        var loader = new BatchLoader(ds, o, (path, _) => { lock (reported) reported.Add(path); });
        var got = Collect(loader, 0).SelectMany(b => b.Indices).ToList();
        Assert.Equal([0, 1, 2, 3, 5], got);              // item 2 loaded on its third try
        Assert.Equal(3, failures[2]);
        Assert.Empty(reported);                          // neither became a skip
        Assert.Empty(loader.BadSamples);                 // and item 4 is tried again next epoch
        Assert.Contains(4, loader.Order(1).Where(i => !loader.BadSamples.ContainsKey(i)));
    }

    [Fact]
    public void A_permanent_failure_is_not_retried_and_stays_a_skip()
    {
        var ds = new FakeDataset(4, bad: i => i == 1);
        var reported = new List<string>();
        var loader = new BatchLoader(ds, new LoaderOptions { BatchSize = 2, Workers = 1, Shuffle = false, RetryBackoff = TimeSpan.FromMilliseconds(1) },
                                     (path, _) => reported.Add(path));
        Collect(loader, 0);
        Assert.Equal(4, ds.Started);                     // item 1 tried once
        Assert.Equal(["item1.mp4"], reported);
    }
}
