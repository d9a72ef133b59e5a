namespace AvBert.Data;

/// <summary>
/// Anything the <see cref="BatchLoader"/> can load from: a fixed number of samples, each loaded independently (from any
/// thread) and deterministically from (seed, epoch, index). <see cref="VideoSequenceDataset"/> is the media one; tests and
/// synthetic data can implement their own.
/// </summary>
public interface IClipDataset
{
    int Count { get; }

    /// <summary>The file behind sample <paramref name="index"/> (for skip reports).</summary>
    string PathOf(int index);

    /// <summary>
    /// Loads sample <paramref name="index"/>. Its randomness must come only from (seed, epoch, index) — see
    /// <see cref="Seeds.ForItem"/>. Throws a <see cref="Runtime.UserError"/> (e.g. MediaError) for a bad file, which the
    /// loader reports and skips, and <see cref="OperationCanceledException"/> when <paramref name="ct"/> fires.
    /// </summary>
    ClipSequence Load(int index, int seed, int epoch, CancellationToken ct);
}

/// <summary>
/// A dataset whose samples load more cheaply several at a time than one by one (<see cref="VideoSequenceDataset"/> on a
/// prepared set: one FFmpeg run decodes the video of several samples, where starting FFmpeg costs about as much as the
/// decoding). The <see cref="BatchLoader"/> then hands each worker <see cref="GroupSize"/> consecutive samples at once.
/// </summary>
public interface IGroupedClipDataset : IClipDataset
{
    /// <summary>Samples a loader worker takes at once; 1 = one by one.</summary>
    int GroupSize { get; }

    /// <summary>Loads <paramref name="indices"/> together: for each, exactly the sample <see cref="IClipDataset.Load"/> returns,
    /// or the exception it throws. Throws only <see cref="OperationCanceledException"/> (when <paramref name="ct"/> fires).</summary>
    (ClipSequence? Sample, Exception? Error)[] LoadGroup(IReadOnlyList<int> indices, int seed, int epoch, CancellationToken ct);
}
