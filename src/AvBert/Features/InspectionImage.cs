using AvBert.Config;
using SkiaSharp;

namespace AvBert.Features;

/// <summary>
/// A PNG for a person to check the data at a glance: one row per clip with a strip of its frames (de-normalised, a few
/// evenly spaced ones) over its log-mel spectrogram (viridis, low frequencies at the bottom, one colour scale for all clips),
/// labelled with the clip's start times.
/// </summary>
public static class InspectionImage
{
    const int Margin = 8, LabelHeight = 18, MaxFramesShown = 8;

    /// <param name="frames">[T,3,F,S,S] normalised, or null.</param>
    /// <param name="logMel">[T,1,FREQ,TIME], or null.</param>
    public static void Save(string pngPath, DataConfig data, int clips, float[]? frames, float[]? logMel,
                            double[] clipStartSeconds, long[] audioClipStarts, string title)
    {
        int F = data.NumFrames, S = frames is null ? 0 : (int)Math.Round(Math.Sqrt(frames.Length / (3.0 * clips * F)));
        int shown = Math.Min(F, MaxFramesShown);
        int thumb = frames is null ? 0 : Math.Max(48, Math.Min(96, S));
        int freq = data.AudioFrequency, time = data.AudioTime;
        int stripWidth = shown * thumb;
        int specScaleX = Math.Max(1, (int)Math.Ceiling((double)Math.Max(stripWidth, 256) / time));
        int specScaleY = Math.Max(1, (int)Math.Round(96.0 / freq));
        int specWidth = logMel is null ? 0 : time * specScaleX, specHeight = logMel is null ? 0 : freq * specScaleY;
        int width = Margin * 2 + Math.Max(Math.Max(stripWidth, specWidth), 360);
        int rowHeight = LabelHeight + thumb + (thumb > 0 && specHeight > 0 ? 4 : 0) + specHeight + Margin;
        int height = Margin + LabelHeight + 4 + clips * rowHeight;

        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(new SKColor(250, 250, 250));
        using var font = new SKFont(Typeface(), 12);
        using var textPaint = new SKPaint { Color = new SKColor(30, 30, 30), IsAntialias = true };
        canvas.DrawText(title, Margin, Margin + 12, SKTextAlign.Left, font, textPaint);

        float lo = 0, hi = 1;
        if (logMel is not null) (lo, hi) = Range(logMel);

        for (int k = 0; k < clips; k++)
        {
            int y = Margin + LabelHeight + 4 + k * rowHeight;
            var label = $"clip {k}";
            if (k < clipStartSeconds.Length) label += $"   video {clipStartSeconds[k]:0.000} s";
            if (k < audioClipStarts.Length) label += $"   audio sample {audioClipStarts[k]} ({audioClipStarts[k] / (double)data.AudioSampleRate:0.000} s)";
            canvas.DrawText(label, Margin, y + 13, SKTextAlign.Left, font, textPaint);
            y += LabelHeight;
            if (frames is not null)
            {
                for (int i = 0; i < shown; i++)
                {
                    int f = shown == 1 ? 0 : (int)Math.Round(i * (F - 1.0) / (shown - 1));
                    using var img = FrameImage(frames, data, k, f, F, S);
                    canvas.DrawBitmap(img, new SKRect(Margin + i * thumb, y, Margin + (i + 1) * thumb, y + thumb));
                }
                y += thumb + 4;
            }
            if (logMel is not null)
            {
                using var spec = SpectrogramImage(logMel, k, freq, time, lo, hi);
                canvas.DrawBitmap(spec, new SKRect(Margin, y, Margin + specWidth, y + specHeight));
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        AvBert.Storage.AtomicFile.Write(pngPath, png.SaveTo);
    }

    static SKTypeface Typeface()
    {
        foreach (var candidate in new[] { "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                                          "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf" })
            if (File.Exists(candidate) && SKTypeface.FromFile(candidate) is { } t) return t;
        return SKTypeface.Default;
    }

    static SKBitmap FrameImage(float[] frames, DataConfig data, int clip, int frame, int F, int S)
    {
        var bmp = new SKBitmap(S, S, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var px = new SKColor[S * S];
        long plane = (long)S * S, clipBase = (long)clip * 3 * F * plane;
        for (int i = 0; i < S * S; i++)
        {
            byte C(int c) => (byte)Math.Clamp((frames[clipBase + (c * F + frame) * plane + i] * data.Std[c] + data.Mean[c]) * 255.0 + 0.5, 0, 255);
            px[i] = new SKColor(C(0), C(1), C(2));
        }
        bmp.Pixels = px;
        return bmp;
    }

    static SKBitmap SpectrogramImage(float[] logMel, int clip, int freq, int time, float lo, float hi)
    {
        var bmp = new SKBitmap(time, freq, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var px = new SKColor[time * freq];
        long clipBase = (long)clip * freq * time;
        for (int f = 0; f < freq; f++)
            for (int t = 0; t < time; t++)
            {
                float v = logMel[clipBase + f * time + t];
                px[(freq - 1 - f) * time + t] = Viridis(hi > lo ? (v - lo) / (hi - lo) : 0);   // low frequencies at the bottom
            }
        bmp.Pixels = px;
        return bmp;
    }

    static (float Lo, float Hi) Range(float[] values)
    {
        float lo = float.MaxValue, hi = float.MinValue;
        foreach (var v in values) { if (v < lo) lo = v; if (v > hi) hi = v; }
        return (lo, hi);
    }

    static readonly (float R, float G, float B)[] ViridisStops =
    [
        (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
        (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
    ];

    static SKColor Viridis(float x)
    {
        x = Math.Clamp(x, 0, 1) * (ViridisStops.Length - 1);
        int i = Math.Min((int)x, ViridisStops.Length - 2);
        float t = x - i;
        var (a, b) = (ViridisStops[i], ViridisStops[i + 1]);
        return new SKColor((byte)(a.R + (b.R - a.R) * t), (byte)(a.G + (b.G - a.G) * t), (byte)(a.B + (b.B - a.B) * t));
    }
}
