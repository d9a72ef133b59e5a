namespace AvBert.Features;

/// <summary>
/// Where the clips of a video sit in time (SPEC §4). Each clip has a relative position r ∈ [0, 1]; the visual clip starts
/// at r·max(D − span, 0) seconds and the audio window at ⌊r·max(N − W, 0)⌋ samples, so both are at the same relative
/// position (aligned in time when the two streams have the same length), exactly as the reference computes them.
/// <para>Our departures from the reference, which divides by zero in both cases:</para>
/// <list type="bullet">
/// <item>One position only (T = 1): it is the middle of the video (r = 0.5).</item>
/// <item>A video shorter than one clip: every clip starts at 0 (clips coincide); the decoder repeats the last frame to
/// fill the clip. An audio track shorter than one window: the window starts at 0 and is zero-padded (silence) to W.</item>
/// </list>
/// </summary>
public static class ClipSampling
{
    /// <summary>The <paramref name="count"/> uniform relative positions k/(count−1); 0.5 when count = 1.</summary>
    public static double[] UniformPositions(int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "need at least one clip");
        if (count == 1) return [0.5];
        var r = new double[count];
        for (int k = 0; k < count; k++) r[k] = (double)k / (count - 1);
        return r;
    }

    /// <summary>
    /// Positions of the clips of one view when a video is split into <paramref name="views"/> views of
    /// <paramref name="clipsPerView"/> clips each, all views × clips spread uniformly: view v, clip k takes position
    /// (v·T + k)/(views·T − 1). One view of T clips gives k/(T−1) (a sequence); T = 1 gives v/(views−1) (single-clip views,
    /// as the reference does for UCF101 and ESC-50).
    /// </summary>
    public static double[] ViewPositions(int view, int views, int clipsPerView)
    {
        if (view < 0 || view >= views) throw new ArgumentOutOfRangeException(nameof(view), view, $"view must be in [0, {views})");
        var all = UniformPositions(views * clipsPerView);
        return all[(view * clipsPerView)..((view + 1) * clipsPerView)];
    }

    /// <summary>Visual clip start in seconds from the start of the usable range.</summary>
    public static double VisualStart(double position, double durationSeconds, double clipSeconds) =>
        position * Math.Max(durationSeconds - clipSeconds, 0);

    /// <summary>Audio window start in samples from the start of the usable range.</summary>
    public static long AudioStart(double position, long totalSamples, long windowSamples) =>
        (long)Math.Floor(position * Math.Max(totalSamples - windowSamples, 0));

    /// <summary>
    /// Copies the audio windows starting at <paramref name="starts"/> (relative to <paramref name="waveform"/>) into
    /// [starts.Length, windowSamples] row-major, zero-padding any window that runs past the end.
    /// </summary>
    public static float[] CutWindows(ReadOnlySpan<float> waveform, IReadOnlyList<long> starts, int windowSamples)
    {
        var dst = new float[(long)starts.Count * windowSamples];
        for (int k = 0; k < starts.Count; k++)
        {
            long s = Math.Max(0, starts[k]);
            int available = (int)Math.Clamp(waveform.Length - s, 0, windowSamples);
            if (available > 0) waveform.Slice((int)s, available).CopyTo(dst.AsSpan(k * windowSamples, available));
        }
        return dst;
    }
}
