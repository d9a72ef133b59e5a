using static TorchSharp.torch;

namespace AvBert.Data;

/// <summary>
/// A collated batch as it crosses to the model's device: <c>Visual</c> uint8 RGB crops [B, T, F, S, S, 3] (a quarter of
/// the float32 model input; synthetic data rendered in floats comes as model input [B, T, 3, F, S, S] float32), <c>Audio</c> float32 log-mel [B, T, 1, FREQ, TIME] (null when that modality is not loaded),
/// in pinned memory when CUDA is available; with each row's flip, labels, paths and dataset indices.
/// <see cref="ToDevice"/> gives the model input — the one place where flip and normalisation happen, for pretraining,
/// fine-tuning, evaluation and feature export. Owns its tensors: dispose it after the step.
/// </summary>
public sealed class VideoBatch : IDisposable
{
    public Tensor? Visual { get; }
    public Tensor? Audio { get; }
    /// <summary>Per row: whether the model sees its frames flipped horizontally (train views).</summary>
    public bool[] Flips { get; init; } = [];
    /// <summary>Mean/std that turn <see cref="Visual"/>'s bytes into model input; null without visual.</summary>
    public Features.PixelNormalization? Pixels { get; init; }
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

    /// <summary>The model input on <paramref name="device"/>: visual float32 [B, T, 3, F, S, S] (flipped and normalised there),
    /// audio float32 [B, T, 1, FREQ, TIME]. Copies are non-blocking (from pinned memory on CUDA). The caller owns the
    /// tensors (a step's dispose scope frees them).</summary>
    public (Tensor? Visual, Tensor? Audio) ToDevice(Device device)
    {
        Tensor? visual = null;
        if (Visual?.dtype == ScalarType.Float32) visual = Visual.to(device, copy: true, non_blocking: true);   // already model input (toy-av)
        else if (Visual is not null)
        {
            using var scope = NewDisposeScope();
            var bytes = Visual.to(device, non_blocking: true);
            var flip = Flips.Any(f => f) ? tensor(Flips).to(device, non_blocking: true) : null;
            visual = Pixels!.ToModelInput(bytes, flip).MoveToOuterDisposeScope();
        }
        return (visual, Audio?.to(device, copy: true, non_blocking: true));
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
        var visual = items[0].VisualInput is not null ? Stack(items, s => s.VisualInput, s => s.VisualShape, "visual", ScalarType.Float32)
                                                      : Stack(items, s => s.Visual, s => s.VisualShape, "visual", ScalarType.Byte);
        Tensor? audio;
        try { audio = Stack(items, s => s.Audio, s => s.AudioShape, "audio", ScalarType.Float32); }
        catch { visual?.Dispose(); throw; }
        return new VideoBatch(visual, audio,
            items.Select(s => s.Labels).ToArray(), items.Select(s => s.Path).ToArray(),
            items.Select(s => s.Index).ToArray(), items.Select(s => s.ItemIndex).ToArray(), items.Select(s => s.SpatialCrop).ToArray())
        {
            Flips = items.Select(s => s.VisualFlip).ToArray(),
            Pixels = items[0].Pixels,
        };
    }

    /// <summary>Whether batches go to pinned host memory (CUDA present): the copy to the GPU can then run asynchronously.</summary>
    static readonly Lazy<bool> PinHostMemory = new(() => cuda.is_available());

    static unsafe Tensor? Stack<T>(IReadOnlyList<ClipSequence> items, Func<ClipSequence, T[]?> data, Func<ClipSequence, long[]> shape, string what,
                                   ScalarType dtype) where T : unmanaged
    {
        var first = data(items[0]);
        if (first is null) return null;
        var s0 = shape(items[0]);
        foreach (var it in items)
            if (data(it) is not { } d || d.Length != first.Length || !shape(it).SequenceEqual(s0))
                throw new InvalidOperationException($"cannot batch {what}: {it.Path} has shape [{string.Join(",", shape(it))}], expected [{string.Join(",", s0)}]");
        var t = empty([items.Count, .. s0], dtype: dtype);
        if (PinHostMemory.Value)
        {
            var pinned = t.pin_memory();
            t.Dispose();
            t = pinned;
        }
        var dst = (T*)TensorMemory.DataPointer(t);
        for (int b = 0; b < items.Count; b++)
            data(items[b])!.AsSpan().CopyTo(new Span<T>(dst + (long)b * first.Length, first.Length));
        return t;
    }

    public void Dispose()
    {
        Visual?.Dispose();
        Audio?.Dispose();
    }
}
