using AvBert.Config;

namespace AvBert.Features;

/// <summary>
/// How one video's frames are turned into model input, identical for all its clips: the size FFmpeg scales the frames
/// to (short side = <see cref="ShortSide"/>), the square crop taken from them, and whether to flip horizontally.
/// </summary>
public sealed record VisualView(int ScaledWidth, int ScaledHeight, int CropX, int CropY, int CropSize, bool Flip, int SpatialIndex)
{
    public int ShortSide => Math.Min(ScaledWidth, ScaledHeight);
}

/// <summary>
/// The visual transforms of SPEC §4 (PySlowFast's, as used by the reference), split so that the expensive part — scaling —
/// is done by FFmpeg while decoding:
/// <list type="bullet">
/// <item>Train: short side s = round(U[min, max]) (scale jitter), long side ⌊long/short·s⌋; a uniformly random square crop
/// of TRAIN_CROP_SIZE; horizontal flip with p = 0.5.</item>
/// <item>Test: short side TEST_CROP_SIZE and a square crop of that size at one of TEST_SPATIAL_CROPS positions along the long
/// side (3: left/centre/right, or top/centre/bottom for portrait video; the centre offset is ⌈(L − s)/2⌉ as in PySlowFast).</item>
/// <item>Then RGB bytes → [3, F, S, S] floats, (x/255 − mean)/std.</item>
/// </list>
/// The scaling filter is FFmpeg's (bilinear by default) rather than the reference's nearest-neighbour interpolation.
/// </summary>
public sealed class VisualTransform(DataConfig data)
{
    readonly DataConfig _data = data;

    /// <summary>Frames more elongated than this (long side / short side) are squeezed along the long side to it: a 4096×2
    /// video would otherwise be scaled to 524,288×256 pixels per frame (gigabytes per clip) for a 256-pixel crop.</summary>
    public const double MaxAspectRatio = 4;

    /// <summary>Scaled size with short side <paramref name="shortSide"/> and the aspect ratio of width×height (PySlowFast's
    /// rounding), the long side at most <see cref="MaxAspectRatio"/> times the short one.</summary>
    public static (int Width, int Height) ScaleShortSide(int width, int height, int shortSide)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"{width}x{height}", "frame size must be positive");
        int Long(int longer, int shorter) => (int)Math.Min(Math.Floor((double)longer / shorter * shortSide), Math.Floor(MaxAspectRatio * shortSide));
        if (width < height) return (shortSide, Long(height, width));
        return (Long(width, height), shortSide);
    }

    /// <summary>Train view: scale jitter, random crop, random flip, drawn from <paramref name="rng"/> (4 draws, fixed order).</summary>
    public VisualView SampleTrain(int width, int height, Random rng)
    {
        int min = _data.TrainJitterScales[0], max = _data.TrainJitterScales[1];
        int shortSide = (int)Math.Round(min + rng.NextDouble() * (max - min), MidpointRounding.ToEven);
        var (w, h) = ScaleShortSide(width, height, shortSide);
        int crop = _data.TrainCropSize;
        int x = rng.Next(0, Math.Max(w - crop, 0) + 1);
        int y = rng.Next(0, Math.Max(h - crop, 0) + 1);
        bool flip = rng.NextDouble() < 0.5;
        return new VisualView(w, h, x, y, crop, flip, -1);
    }

    /// <summary>Test view <paramref name="spatialIndex"/> of <see cref="DataConfig.TestSpatialCrops"/> (deterministic).</summary>
    public VisualView Test(int width, int height, int spatialIndex)
    {
        int crops = _data.TestSpatialCrops;
        if (spatialIndex < 0 || spatialIndex >= crops)
            throw new ArgumentOutOfRangeException(nameof(spatialIndex), spatialIndex, $"spatial crop must be in [0, {crops})");
        int size = _data.TestCropSize;
        var (w, h) = ScaleShortSide(width, height, size);
        // Position along the long side: 0, ..., 1 over the crops; one crop = centre.
        double frac = crops == 1 ? 0.5 : (double)spatialIndex / (crops - 1);
        int x = (int)Math.Ceiling((w - size) / 2.0), y = (int)Math.Ceiling((h - size) / 2.0);
        if (h > w) y = (int)Math.Ceiling(frac * (h - size));
        else x = (int)Math.Ceiling(frac * (w - size));
        return new VisualView(w, h, x, y, size, false, spatialIndex);
    }

    /// <summary>
    /// Crops, flips and normalises <paramref name="frameCount"/> RGB24 frames of the scaled size (HWC, as decoded) into
    /// <paramref name="dst"/> laid out [3, frameCount, S, S]. Frame f is read from decoded frame f·<paramref name="frameStride"/>.
    /// </summary>
    public void Apply(ReadOnlySpan<byte> rgb, int frameCount, VisualView v, Span<float> dst, int frameStride = 1)
    {
        int s = v.CropSize, w = v.ScaledWidth;
        if (rgb.Length < ((long)(frameCount - 1) * frameStride + 1) * v.ScaledHeight * w * 3) throw new ArgumentException("not enough frame bytes for the view", nameof(rgb));
        if (dst.Length < 3L * frameCount * s * s) throw new ArgumentException("destination too small", nameof(dst));
        if (v.CropX + s > w || v.CropY + s > v.ScaledHeight) throw new ArgumentException($"crop {s} at ({v.CropX},{v.CropY}) exceeds {w}x{v.ScaledHeight}");
        Span<float> scale = stackalloc float[3], shift = stackalloc float[3];
        for (int c = 0; c < 3; c++)
        {
            scale[c] = (float)(1.0 / (255.0 * _data.Std[c]));
            shift[c] = (float)(-_data.Mean[c] / _data.Std[c]);
        }
        int plane = s * s, channelStride = frameCount * plane;
        for (int f = 0; f < frameCount; f++)
        {
            var frame = rgb.Slice(f * frameStride * v.ScaledHeight * w * 3, v.ScaledHeight * w * 3);
            for (int y = 0; y < s; y++)
            {
                var row = frame.Slice(((v.CropY + y) * w + v.CropX) * 3, s * 3);
                int o = f * plane + y * s;
                for (int x = 0; x < s; x++)
                {
                    int src = (v.Flip ? s - 1 - x : x) * 3;
                    int d = o + x;
                    dst[d] = row[src] * scale[0] + shift[0];
                    dst[channelStride + d] = row[src + 1] * scale[1] + shift[1];
                    dst[2 * channelStride + d] = row[src + 2] * scale[2] + shift[2];
                }
            }
        }
    }
}
