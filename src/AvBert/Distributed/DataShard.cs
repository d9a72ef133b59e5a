namespace AvBert.Distributed;

/// <summary>
/// This rank's part of every global batch. All ranks draw the same seeded global order of an epoch; global batch b is
/// positions [b·R·W, (b+1)·R·W) of it (R = the rank's batch, W = the world size) and rank r takes the R positions starting at
/// b·R·W + r·R. So the union of the ranks' batches is exactly the batch one process would take, and every sample is seen
/// once per epoch. The samples after the last full global batch are dealt round-robin to the ranks; each rank's order then
/// repeats its own samples once more: a rank whose file fails takes the next sample of its own order, deterministically
/// (failures are per file), and every rank still makes exactly <see cref="BatchesPerEpoch"/> batches.
/// </summary>
public sealed record DataShard(int Rank, int Count)
{
    /// <summary>Global batches per epoch: only full ones (at least one: a tiny source repeats its samples).</summary>
    public int BatchesPerEpoch(int samples, int rankBatch) => Math.Max(1, samples / (rankBatch * Count));

    /// <summary>The positions of <paramref name="globalOrder"/> this rank loads, in order (with its spare round at the end).</summary>
    public int[] RankOrder(int[] globalOrder, int rankBatch)
    {
        int global = rankBatch * Count, full = globalOrder.Length / global;
        var own = new List<int>();
        for (int b = 0; b < full; b++)
            own.AddRange(globalOrder.AsSpan(b * global + Rank * rankBatch, rankBatch).ToArray());
        for (int i = full * global + Rank; i < globalOrder.Length; i += Count) own.Add(globalOrder[i]);
        if (own.Count == 0 && globalOrder.Length > 0) own.Add(globalOrder[Rank % globalOrder.Length]);
        // Enough for this epoch's batches plus one spare round of replacements.
        int needed = BatchesPerEpoch(globalOrder.Length, rankBatch) * rankBatch + own.Count;
        var order = new List<int>(needed);
        while (order.Count < needed && own.Count > 0) order.AddRange(own);
        return [.. order];
    }
}
