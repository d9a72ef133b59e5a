using static TorchSharp.torch;

namespace AvBert.Data;

/// <summary>
/// A collated batch: <c>Visual</c> [B, T, 3, F, H, W], <c>Audio</c> [B, T, 1, FREQ, TIME] (CPU float32; null when that
/// modality is not loaded), with labels, paths and dataset indices per row. Owns its tensors: dispose it after the step.
/// </summary>
public sealed class VideoBatch : IDisposable
{
    public Tensor? Visual { get; }
    public Tensor? Audio { get; }
    public int[][] Labels { get; }
    public string[] Paths { get; }
    /// <summary>Dataset index of each row.</summary>
    public int[] Indices { get; }
    /// <summary>Media item (video) index of each row: rows from the same video (test views) share it.</summary>
    public int[] ItemIndices { get; }
    /// <summary>Test crop of each row (−1 for train).</summary>
    public int[] SpatialCrops { get; }
    public int Count => Paths.Length;

    public VideoBatch(Tensor? visual, Tensor? audio, int[][] labels, string[] paths, int[] indices, int[] itemIndices, int[] spatialCrops)
    {
        Visual = visual; Audio = audio; Labels = labels; Paths = paths; Indices = indices; ItemIndices = itemIndices; SpatialCrops = spatialCrops;
    }

    /// <summary>Single-label targets: int64 [B], the first label of each row (−1 when unlabeled).</summary>
    public Tensor Targets(Device? device = null) =>
        tensor(Labels.Select(l => l.Length > 0 ? (long)l[0] : -1L).ToArray(), dtype: ScalarType.Int64, device: device);

    /// <summary>Multi-label targets: float32 [B, numClasses] with 1 at each label.</summary>
    public Tensor MultiHot(int numClasses, Device? device = null)
    {
        var data = new float[Count * numClasses];
        for (int b = 0; b < Count; b++)
            foreach (var c in Labels[b])
                if (c >= 0 && c < numClasses) data[b * numClasses + c] = 1f;
        return tensor(data, [Count, numClasses], device: device);
    }

    /// <summary>Stacks loaded samples (all of the same shapes) into one batch.</summary>
    public static VideoBatch Collate(IReadOnlyList<ClipSequence> items)
    {
        if (items.Count == 0) throw new ArgumentException("cannot collate an empty batch", nameof(items));
        var visual = Stack(items, s => s.Visual, s => s.VisualShape, "visual");
        Tensor? audio;
        try { audio = Stack(items, s => s.Audio, s => s.AudioShape, "audio"); }
        catch { visual?.Dispose(); throw; }
        return new VideoBatch(visual, audio,
            items.Select(s => s.Labels).ToArray(), items.Select(s => s.Path).ToArray(),
            items.Select(s => s.Index).ToArray(), items.Select(s => s.ItemIndex).ToArray(), items.Select(s => s.SpatialCrop).ToArray());
    }

    static unsafe Tensor? Stack(IReadOnlyList<ClipSequence> items, Func<ClipSequence, float[]?> data, Func<ClipSequence, long[]> shape, string what)
    {
        var first = data(items[0]);
        if (first is null) return null;
        var s0 = shape(items[0]);
        foreach (var it in items)
            if (data(it) is not { } d || d.Length != first.Length || !shape(it).SequenceEqual(s0))
                throw new InvalidOperationException($"cannot batch {what}: {it.Path} has shape [{string.Join(",", shape(it))}], expected [{string.Join(",", s0)}]");
        var t = empty([items.Count, .. s0], dtype: ScalarType.Float32);
        var dst = (float*)TensorMemory.DataPointer(t);
        for (int b = 0; b < items.Count; b++)
            data(items[b])!.AsSpan().CopyTo(new Span<float>(dst + (long)b * first.Length, first.Length));
        return t;
    }

    public void Dispose()
    {
        Visual?.Dispose();
        Audio?.Dispose();
    }
}
