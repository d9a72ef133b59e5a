using System.Buffers;
using System.Diagnostics;
using AvBert.Config;
using AvBert.Features;
using AvBert.Media;

namespace AvBert.Data.Prepared;

/// <summary>
/// Reads a prepared item's clips: the same clips <see cref="ClipReader"/> reads from the source (its clip sampling, views,
/// crops, audio windows and log-mel), from the prepared files — no probe; the video from raw frames (a seek and a copy,
/// resampled to the view as it is cropped) or from the H.264 file (one FFmpeg run, possibly shared by several samples,
/// <see cref="VisualSpan"/>); the audio from the prepared waveform (no FFmpeg), the very samples the source path decodes.
/// </summary>
public static class PreparedClipReader
{
    /// <summary>The clips of <paramref name="request"/> from <paramref name="media"/>, as <paramref name="reader"/> reads them
    /// from a source file; <paramref name="decoded"/> holds frames decoded for several samples at once (<see cref="VisualSpan"/>).</summary>
    public static ClipData Read(ClipReader reader, PreparedMedia media, ClipRequest request, Random? visualRng, Random? audioRng,
                                CancellationToken ct, Func<VideoDecoder.FrameSpan, byte[]?>? decoded = null) =>
        reader.Read(new Clips(reader, media), request, visualRng, audioRng, ct, decoded);

    /// <summary>The one span of frames <see cref="Read"/> decodes from <paramref name="media"/>'s H.264 video for
    /// <paramref name="request"/> (the same <paramref name="visualRng"/> state gives the same view); null when Read would not
    /// decode one span (no video, raw frames, clips too far apart or too large).</summary>
    public static VideoDecoder.FrameSpan? VisualSpan(ClipReader reader, PreparedMedia media, ClipRequest request, Random? visualRng)
    {
        if (!reader.Modalities.HasFlag(Modalities.Visual) || media.VideoPath is not { } videoPath || media.Info.Video is null
            || media.RawFrameSize is not null) return null;
        var (view, starts) = reader.VisualSetup(videoPath, media.Info, request, 0, media.Info.DurationSeconds, visualRng);
        var u = reader.Union(starts, view, clipRateFile: true);
        return u.OneRun ? new VideoDecoder.FrameSpan(videoPath, u.First, u.Count, u.Fps, view.ScaledWidth, view.ScaledHeight) : null;
    }

    /// <summary>A prepared item as <see cref="ClipReader"/> reads it: the range is the whole prepared item, its time 0 the
    /// source's range start.</summary>
    sealed class Clips(ClipReader reader, PreparedMedia media) : ClipMedia
    {
        public override string Path => media.Entry.Source;
        public override MediaInfo Info { get; } = media.Info;
        public override double RangeStart => 0;
        public override double RangeEnd => Info.DurationSeconds;
        public override double Origin => media.Entry.RangeStart;

        public override double[] ReadVisual(double[] starts, VisualView view, byte[] dst, Func<VideoDecoder.FrameSpan, byte[]?>? decoded,
                                            CancellationToken ct) =>
            media.RawFrameSize is { } stored
                ? ReadRaw(stored, starts, view, dst)
                : reader.ReadVisual(media.VideoPath ?? Path, starts, view, dst, ct, clipRateFile: true, decoded);

        public override float[] Waveform(CancellationToken ct) => media.ReadWaveform();

        public override float[] Windows(long[] starts, int count, CancellationToken ct) => media.ReadWindows(starts, count);

        /// <summary>The clips starting at <paramref name="starts"/> (prepared time) from the raw frames, resampled from the
        /// stored size to the view's scale as they are cropped (<see cref="VisualTransform.CropResampled"/>); returns the
        /// clips' start times on the set's frame grid, as <see cref="ClipReader"/> does for the H.264 files.</summary>
        double[] ReadRaw((int Width, int Height) stored, double[] starts, VisualView view, byte[] dst)
        {
            int T = starts.Length, F = reader.Data.NumFrames;
            double fps = reader.ClipFps;
            int clipBytes = 3 * F * view.CropSize * view.CropSize, frameBytes = 3 * stored.Width * stored.Height;
            var used = new double[T];
            for (int k = 0; k < T; k++)
            {
                long readStart = Stopwatch.GetTimestamp();
                int first = (int)Math.Round(starts[k] * fps);
                var frames = FrameFile.ReadPooled(media.VideoPath!, media.Entry.Source, frameBytes, first, F);
                reader.Timings.AddDecode(readStart);
                long transformStart = Stopwatch.GetTimestamp();
                try { VisualTransform.CropResampled(frames, stored.Width, stored.Height, F, view, dst.AsSpan(k * clipBytes, clipBytes)); }
                finally { ArrayPool<byte>.Shared.Return(frames); }
                reader.Timings.AddTransform(transformStart);
                used[k] = first / fps;
            }
            return used;
        }
    }
}
