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
/// <item>Then the crop is copied as RGB bytes (<see cref="Crop"/>); flip and (x/255 − mean)/std → [3, F, S, S] floats run on
/// the model's device (<see cref="PixelNormalization"/>).</item>
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
    /// Copies the view's square crop of <paramref name="frameCount"/> RGB24 frames of the scaled size (HWC, as decoded) into
    /// <paramref name="dst"/> laid out [frameCount, S, S, 3] — still bytes, not flipped: flip and normalisation run where
    /// the model is (<see cref="PixelNormalization.ToModelInput"/>). Frame f is read from decoded frame f·<paramref name="frameStride"/>.
    /// </summary>
    public static void Crop(ReadOnlySpan<byte> rgb, int frameCount, VisualView v, Span<byte> dst, int frameStride = 1)
    {
        int s = v.CropSize, w = v.ScaledWidth;
        if (rgb.Length < ((long)(frameCount - 1) * frameStride + 1) * v.ScaledHeight * w * 3) throw new ArgumentException("not enough frame bytes for the view", nameof(rgb));
        if (dst.Length < 3L * frameCount * s * s) throw new ArgumentException("destination too small", nameof(dst));
        if (v.CropX + s > w || v.CropY + s > v.ScaledHeight) throw new ArgumentException($"crop {s} at ({v.CropX},{v.CropY}) exceeds {w}x{v.ScaledHeight}");
        int row = s * 3;
        for (int f = 0; f < frameCount; f++)
        {
            var frame = rgb.Slice(f * frameStride * v.ScaledHeight * w * 3, v.ScaledHeight * w * 3);
            for (int y = 0; y < s; y++)
                frame.Slice(((v.CropY + y) * w + v.CropX) * 3, row).CopyTo(dst.Slice((f * s + y) * row, row));
        }
    }

    /// <summary>
    /// As <see cref="Crop"/>, from frames stored at another size (<paramref name="width"/>×<paramref name="height"/>, e.g. a
    /// prepared set's raw frames at its short side) instead of the view's scaled size: each pixel of the view's crop is
    /// resampled from the stored frame with a triangle (bilinear) filter widened to the scale ratio when shrinking, so
    /// shrinking averages rather than skips pixels — FFmpeg's bilinear scaler does the same, up to its fixed-point rounding.
    /// Same size: exactly <see cref="Crop"/>.
    /// </summary>
    public static void CropResampled(ReadOnlySpan<byte> rgb, int width, int height, int frameCount, VisualView v, Span<byte> dst,
                                     int frameStride = 1)
    {
        if (width == v.ScaledWidth && height == v.ScaledHeight)
        {
            Crop(rgb, frameCount, v, dst, frameStride);
            return;
        }
        int s = v.CropSize;
        long frameBytes = 3L * width * height;
        if (rgb.Length < ((long)(frameCount - 1) * frameStride + 1) * frameBytes) throw new ArgumentException("not enough frame bytes for the view", nameof(rgb));
        if (dst.Length < 3L * frameCount * s * s) throw new ArgumentException("destination too small", nameof(dst));
        var xs = ResampleTaps.For(v.CropX, s, v.ScaledWidth, width);
        var ys = ResampleTaps.For(v.CropY, s, v.ScaledHeight, height);
        // Rows of the stored frame the crop reads, filtered horizontally once each: [rows, S, 3].
        int rowFirst = ys.First, rows = ys.Last - ys.First + 1;
        var horizontal = new float[rows * s * 3];
        for (int f = 0; f < frameCount; f++)
        {
            var frame = rgb.Slice((int)(f * frameStride * frameBytes), (int)frameBytes);
            for (int r = 0; r < rows; r++)
            {
                var line = frame.Slice((rowFirst + r) * width * 3, width * 3);
                for (int x = 0; x < s; x++)
                {
                    float c0 = 0, c1 = 0, c2 = 0;
                    for (int t = xs.Start[x]; t < xs.Start[x + 1]; t++)
                    {
                        int i = xs.Index[t] * 3;
                        float w = xs.Weight[t];
                        c0 += w * line[i]; c1 += w * line[i + 1]; c2 += w * line[i + 2];
                    }
                    int o = (r * s + x) * 3;
                    horizontal[o] = c0; horizontal[o + 1] = c1; horizontal[o + 2] = c2;
                }
            }
            var output = dst.Slice(f * s * s * 3, s * s * 3);
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    float c0 = 0, c1 = 0, c2 = 0;
                    for (int t = ys.Start[y]; t < ys.Start[y + 1]; t++)
                    {
                        int i = ((ys.Index[t] - rowFirst) * s + x) * 3;
                        float w = ys.Weight[t];
                        c0 += w * horizontal[i]; c1 += w * horizontal[i + 1]; c2 += w * horizontal[i + 2];
                    }
                    int o = (y * s + x) * 3;
                    output[o] = ToByte(c0); output[o + 1] = ToByte(c1); output[o + 2] = ToByte(c2);
                }
        }
    }

    static byte ToByte(float v) => (byte)Math.Clamp((int)MathF.Round(v), 0, 255);

    public PixelNormalization Normalization { get; } = new(data.Mean, data.Std);
}

/// <summary>
/// The taps of a 1-D resampling from <c>stored</c> samples to <c>scaled</c> ones, for the outputs <c>first .. first+count−1</c>
/// of the scaled axis: output i (pixel centre i + ½ in scaled units) reads the stored pixels under a triangle of half-width
/// max(1, stored/scaled) centred on its position, weights normalised to 1, edges clamped.
/// </summary>
sealed class ResampleTaps
{
    public required int[] Start { get; init; }   // taps of output i: Start[i] .. Start[i+1]−1
    public required int[] Index { get; init; }
    public required float[] Weight { get; init; }
    /// <summary>The first and last stored index any tap reads.</summary>
    public int First { get; init; }
    public int Last { get; init; }

    public static ResampleTaps For(int first, int count, int scaled, int stored)
    {
        double ratio = (double)stored / scaled, support = Math.Max(1.0, ratio);
        var start = new int[count + 1];
        var index = new List<int>();
        var weight = new List<float>();
        int lo = int.MaxValue, hi = int.MinValue;
        for (int i = 0; i < count; i++)
        {
            start[i] = index.Count;
            double centre = (first + i + 0.5) * ratio - 0.5;
            int a = (int)Math.Floor(centre - support) + 1, b = (int)Math.Ceiling(centre + support) - 1;
            var taps = new List<(int Index, double Weight)>();
            for (int j = a; j <= b; j++)
            {
                double w = 1 - Math.Abs(j - centre) / support;
                if (w > 0) taps.Add((Math.Clamp(j, 0, stored - 1), w));
            }
            if (taps.Count == 0) taps.Add((Math.Clamp((int)Math.Round(centre), 0, stored - 1), 1));
            double sum = taps.Sum(t => t.Weight);
            foreach (var (j, w) in taps)
            {
                index.Add(j);
                weight.Add((float)(w / sum));
                lo = Math.Min(lo, j);
                hi = Math.Max(hi, j);
            }
        }
        start[count] = index.Count;
        return new ResampleTaps { Start = start, Index = index.ToArray(), Weight = weight.ToArray(), First = lo, Last = hi };
    }
}

/// <summary>
/// The last step of SPEC §4's visual transform, run on the device that holds the model: uint8 RGB crops
/// [..., F, S, S, 3] → float32 [..., 3, F, S, S], horizontally flipped where asked, x·(1/(255·std)) + (−mean/std) per
/// channel (float32 multiply, then add: bit-equal to the same formula on the host). Batches cross to the device as bytes
/// (a quarter of the float32 size), so the loader neither converts nor keeps floats.
/// </summary>
public sealed class PixelNormalization
{
    readonly float[] _scale = new float[3], _shift = new float[3];

    public PixelNormalization(IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        if (mean.Count != 3 || std.Count != 3) throw new ArgumentException("mean and std need 3 values (R, G, B)");
        for (int c = 0; c < 3; c++)
        {
            _scale[c] = (float)(1.0 / (255.0 * std[c]));
            _shift[c] = (float)(-mean[c] / std[c]);
        }
    }

    /// <summary>Model input from uint8 crops <paramref name="crops"/> [..., F, S, S, 3] on any device: float32
    /// [..., 3, F, S, S] on the same device. <paramref name="flip"/>: bool, one per leading row (the first dimension), or
    /// null for none; a row flipped has its width axis reversed. The caller owns the result.</summary>
    public TorchSharp.torch.Tensor ToModelInput(TorchSharp.torch.Tensor crops, TorchSharp.torch.Tensor? flip)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        long n = crops.dim();
        if (n < 4 || crops.shape[n - 1] != 3 || crops.dtype != TorchSharp.torch.ScalarType.Byte)
            throw new ArgumentException($"need uint8 crops [..., F, S, S, 3], got {crops.dtype} [{string.Join(",", crops.shape)}]", nameof(crops));
        var x = crops;
        if (flip is not null)
        {
            var rowShape = new long[n];
            Array.Fill(rowShape, 1L);
            rowShape[0] = crops.shape[0];
            x = TorchSharp.torch.where(flip.to(crops.device).view(rowShape), x.flip(n - 2), x);
        }
        var perm = new long[n];
        for (long i = 0; i < n - 4; i++) perm[i] = i;
        perm[n - 4] = n - 1; perm[n - 3] = n - 4; perm[n - 2] = n - 3; perm[n - 1] = n - 2;
        var shape = new long[n];
        Array.Fill(shape, 1L);
        shape[n - 4] = 3;
        var scale = TorchSharp.torch.tensor(_scale, device: crops.device).view(shape);
        var shift = TorchSharp.torch.tensor(_shift, device: crops.device).view(shape);
        // Bytes are permuted and made contiguous (cheapest), then converted: the result is a plain contiguous float tensor.
        var y = x.permute(perm).contiguous().to(TorchSharp.torch.ScalarType.Float32).mul_(scale).add_(shift);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary><see cref="ToModelInput"/> of one sample's host bytes [T, F, S, S, 3] (inspection, tests): float32
    /// [T, 3, F, S, S] row-major.</summary>
    public float[] ToModelArray(byte[] crops, long[] shape, bool flip)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var x = TorchSharp.torch.tensor(crops, shape, dtype: TorchSharp.torch.ScalarType.Byte).unsqueeze(0);
        var y = ToModelInput(x, flip ? TorchSharp.torch.tensor(new[] { true }) : null);
        return y.data<float>().ToArray();
    }
}
