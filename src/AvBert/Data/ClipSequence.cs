using static TorchSharp.torch;

namespace AvBert.Data;

/// <summary>
/// One loaded sample in plain arrays (what loader workers produce; tensors are made once, at collation):
/// the T visual clips [T, 3, F, S, S] and/or audio clips [T, 1, FREQ, TIME], with where they came from.
/// </summary>
public sealed class ClipSequence
{
    /// <summary>Index in the dataset (a view of an item).</summary>
    public required int Index { get; init; }
    /// <summary>Index of the media item (video/file) this view comes from.</summary>
    public required int ItemIndex { get; init; }
    public required string Path { get; init; }
    public required int[] Labels { get; init; }
    /// <summary>Test crop index, or −1 for a random (train) crop.</summary>
    public int SpatialCrop { get; init; } = -1;

    /// <summary>[T, 3, F, S, S] normalised frames, row-major; null when the visual stream is not loaded.</summary>
    public float[]? Visual { get; init; }
    public long[] VisualShape { get; init; } = [];
    /// <summary>[T, 1, FREQ, TIME] log-mel spectrograms, row-major; null when audio is not loaded.</summary>
    public float[]? Audio { get; init; }
    public long[] AudioShape { get; init; } = [];

    /// <summary>Start of each visual clip, seconds from the start of the file.</summary>
    public double[] ClipStartSeconds { get; init; } = [];
    /// <summary>Start of each audio window, in samples at the audio rate from the start of the file.</summary>
    public long[] AudioClipStarts { get; init; } = [];

    /// <summary>As tensors (CPU, float32), owned by the returned sample.</summary>
    public VideoSample ToSample() =>
        new(Visual is null ? null : tensor(Visual, VisualShape), Audio is null ? null : tensor(Audio, AudioShape), Labels, Path)
        {
            Index = Index,
            ItemIndex = ItemIndex,
            SpatialCrop = SpatialCrop,
            ClipStartSeconds = ClipStartSeconds,
            AudioClipStarts = AudioClipStarts,
        };
}

/// <summary>
/// One video's model input: <c>Visual</c> [T, 3, F, H, W] normalised frames, <c>Audio</c> [T, 1, FREQ, TIME] log-mel
/// (either may be null when its modality is not loaded), its labels and path. Owns its tensors.
/// </summary>
public sealed record VideoSample(Tensor? Visual, Tensor? Audio, int[] Labels, string Path) : IDisposable
{
    public int Index { get; init; }
    public int ItemIndex { get; init; }
    public int SpatialCrop { get; init; } = -1;
    public double[] ClipStartSeconds { get; init; } = [];
    public long[] AudioClipStarts { get; init; } = [];

    public void Dispose()
    {
        Visual?.Dispose();
        Audio?.Dispose();
    }
}
