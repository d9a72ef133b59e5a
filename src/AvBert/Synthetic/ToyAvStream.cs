namespace AvBert.Synthetic;

/// <summary>
/// Batches of toy-av videos. Rendering happens one batch ahead on a worker thread while the caller trains on the current
/// one. Each batch is disposed when the enumeration moves past it (or ends), so callers must not keep its tensors.
/// </summary>
public static class ToyAvStream
{
    /// <summary>
    /// An endless stream of fresh videos for self-supervised training: batch k holds indices
    /// <paramref name="firstIndex"/> + k·B … + B−1 of <paramref name="split"/>. Starting at <paramref name="startBatch"/>
    /// gives exactly the batches an uninterrupted stream would (resume).
    /// </summary>
    public static IEnumerable<ToyAvBatch> Endless(ToyAv data, ToyAvSplit split, int batchSize, long startBatch = 0, int firstIndex = 0) =>
        Prefetch(data, split, EndlessIndices(batchSize, startBatch, firstIndex));

    static IEnumerable<int[]> EndlessIndices(int batchSize, long startBatch, int firstIndex)
    {
        for (long k = startBatch; ; k++)
        {
            long first = firstIndex + k * batchSize;
            if (first + batchSize > int.MaxValue) throw new InvalidOperationException("toy-av index space exhausted");
            yield return Enumerable.Range(0, batchSize).Select(i => (int)(first + i)).ToArray();
        }
    }

    /// <summary>Videos 0..count−1 of a split, in order, in batches of at most <paramref name="batchSize"/>.</summary>
    public static IEnumerable<ToyAvBatch> Range(ToyAv data, ToyAvSplit split, int count, int batchSize) =>
        Prefetch(data, split, Enumerable.Range(0, (count + batchSize - 1) / batchSize)
            .Select(k => Enumerable.Range(k * batchSize, Math.Min(batchSize, count - k * batchSize)).ToArray()));

    /// <summary>Renders the batch after the current one in the background.</summary>
    public static IEnumerable<ToyAvBatch> Prefetch(ToyAv data, ToyAvSplit split, IEnumerable<int[]> batches)
    {
        using var e = batches.GetEnumerator();
        if (!e.MoveNext()) yield break;
        var first = e.Current;
        Task<ToyAvBatch>? pending = Task.Run(() => data.Batch(split, first));
        try
        {
            while (pending is not null)
            {
                var current = pending.GetAwaiter().GetResult();
                pending = null;
                if (e.MoveNext())
                {
                    var indices = e.Current;
                    pending = Task.Run(() => data.Batch(split, indices));
                }
                try { yield return current; }
                finally { current.Dispose(); }
            }
        }
        finally
        {
            // The caller stopped early: the batch rendered ahead is nobody's, free it.
            if (pending is not null)
                try { pending.GetAwaiter().GetResult().Dispose(); } catch { /* it failed: nothing to free */ }
        }
    }
}
