using AvBert.Media;
using AvBert.Data.Sources;

namespace AvBert.Data;

/// <summary>
/// An item that a prepared set serves instead of its source file (<see cref="IPreparedCopy"/>): it reads its own clips,
/// through the clip sampling and transforms of <see cref="ClipReader"/>, so that neither the sources nor the dataset know
/// how a prepared set is laid out.
/// </summary>
public interface IPreparedItem : IPreparedCopy
{
    /// <summary>The clips <paramref name="reader"/> would read from the source, read from the prepared files
    /// (see <see cref="ClipReader.Read(string, ClipRequest, Random?, Random?, CancellationToken, Func{VideoDecoder.FrameSpan, byte[]?}?)"/>).</summary>
    ClipData Read(ClipReader reader, ClipRequest request, Random? visualRng, Random? audioRng, CancellationToken ct,
                  Func<VideoDecoder.FrameSpan, byte[]?>? decoded = null);

    /// <summary>The one span of frames <see cref="Read"/> decodes with FFmpeg for this request (the same
    /// <paramref name="visualRng"/> state gives the same view), so that the loader can decode the spans of several samples in
    /// one run (<see cref="VideoDecoder.DecodeMany"/>) and hand them to Read; null when Read decodes no single span.</summary>
    VideoDecoder.FrameSpan? VisualSpan(ClipReader reader, ClipRequest request, Random? visualRng);
}
