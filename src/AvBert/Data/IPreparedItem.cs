using AvBert.Config;
using AvBert.Media;
using AvBert.Data.Sources;

namespace AvBert.Data;

/// <summary>
/// An item that a prepared set (made by <c>avbert prep</c>, read by Data/Prepared) serves instead of its source file: it reads
/// its own clips, through the clip sampling and transforms of <see cref="ClipReader"/>, so that neither the sources nor the
/// dataset know how a prepared set is laid out. The prepared set's source puts it on <see cref="MediaItem.Prepared"/>.
/// </summary>
public interface IPreparedItem
{
    /// <summary>Throws a <see cref="Runtime.UserError"/> saying how to prepare a fitting set when this item's set was made
    /// with settings <paramref name="data"/> cannot use.</summary>
    void CheckFits(DataConfig data);

    /// <summary>Whether the set keeps this item's video (its samples are then loaded in groups, see
    /// <see cref="VideoSequenceDataset.GroupSize"/>).</summary>
    bool HasVideo { get; }

    /// <summary>The clips <paramref name="reader"/> would read from the source, read from the prepared files
    /// (see <see cref="ClipReader.Read(string, ClipRequest, Random?, Random?, CancellationToken, Func{VideoDecoder.FrameSpan, byte[]?}?)"/>).</summary>
    ClipData Read(ClipReader reader, ClipRequest request, Random? visualRng, Random? audioRng, CancellationToken ct,
                  Func<VideoDecoder.FrameSpan, byte[]?>? decoded = null);

    /// <summary>The one span of frames <see cref="Read"/> decodes with FFmpeg for this request (the same
    /// <paramref name="visualRng"/> state gives the same view), so that the loader can decode the spans of several samples in
    /// one run (<see cref="VideoDecoder.DecodeMany"/>) and hand them to Read; null when Read decodes no single span.</summary>
    VideoDecoder.FrameSpan? VisualSpan(ClipReader reader, ClipRequest request, Random? visualRng);
}
