using static TorchSharp.torch;

namespace AvBert.Data;

/// <summary>
/// One loaded sample in plain arrays (what loader workers produce; tensors are made once, at collation):
/// the T visual clips as uint8 crops [T, F, S, S, 3] (flip and normalisation happen on the model's device, see
/// <see cref="VideoBatch.ToDevice"/>) and/or audio clips [T, 1, FREQ, TIME] log-mel, with where they came from.
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

    /// <summary>[T, F, S, S, 3] RGB crops, row-major, not flipped; null when the visual stream is not loaded.</summary>
    public byte[]? Visual { get; init; }
    /// <summary>Whether the model sees <see cref="Visual"/> flipped horizontally (the train view's flip).</summary>
    public bool VisualFlip { get; init; }
    /// <summary>What turns <see cref="Visual"/> into model input (mean/std of the data config).</summary>
    public Features.PixelNormalization? Pixels { get; init; }
    /// <summary>Instead of <see cref="Visual"/>: frames already in model form, [T, 3, F, S, S] float32 (synthetic data
    /// rendered in floats, toy-av); they cross to the device as they are.</summary>
    public float[]? VisualInput { get; init; }
    public long[] VisualShape { get; init; } = [];
    /// <summary>[T, 1, FREQ, TIME] log-mel spectrograms, row-major; null when audio is not loaded.</summary>
    public float[]? Audio { get; init; }
    public long[] AudioShape { get; init; } = [];

    /// <summary>Start of each visual clip, seconds from the start of the file.</summary>
    public double[] ClipStartSeconds { get; init; } = [];
    /// <summary>Start of each audio window, in samples at the audio rate from the start of the file.</summary>
    public long[] AudioClipStarts { get; init; } = [];

    /// <summary>As model input tensors (CPU, float32: visual [T, 3, F, S, S] flipped and normalised), owned by the returned sample.</summary>
    public VideoSample ToSample() =>
        new(Visual is not null ? tensor(Pixels!.ToModelArray(Visual, VisualShape, VisualFlip), [VisualShape[0], 3, VisualShape[1], VisualShape[2], VisualShape[3]])
            : VisualInput is not null ? tensor(VisualInput, VisualShape) : null,
            Audio is null ? null : tensor(Audio, AudioShape), Labels, Path)
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
