namespace AvBert.Synthetic;

/// <summary>
/// Turns a <see cref="ToyAvScene"/> into pixels and samples: frames at any time and resolution (planar RGB in [0,1]) and
/// the mono waveform. Deterministic: the scene's noise seed drives the pixel and audio noise.
/// </summary>
public sealed class ToyAvRenderer(IReadOnlyList<ToyAvClass> classes, double motionAmplitude, double soundingGlow = 0)
{
    /// <summary>Renders the frame at <paramref name="time"/> seconds into <paramref name="planar"/> ([3,H,W], RGB in [0,1]).</summary>
    public void RenderFrame(ToyAvScene scene, double time, int width, int height, Span<float> planar)
    {
        if (planar.Length < 3 * width * height) throw new ArgumentException("frame buffer too small", nameof(planar));
        int hw = width * height;
        var bg = BackdropAt(scene, time);
        float cos = (float)Math.Cos(bg.AngleRadians), sin = (float)Math.Sin(bg.AngleRadians);
        var noise = new ToyRandom(ToyRandom.Mix((long)scene.NoiseSeed, (long)Math.Round(time * 1e5), width, height));
        float amp = (float)(bg.PixelNoise * Math.Sqrt(12)); // uniform noise with std = PixelNoise
        for (int y = 0; y < height; y++)
        {
            float fy = (y + 0.5f) / height - 0.5f;
            for (int x = 0; x < width; x++)
            {
                float fx = (x + 0.5f) / width - 0.5f;
                float g = Math.Clamp(fx * cos + fy * sin + 0.5f, 0f, 1f);
                int i = y * width + x;
                for (int c = 0; c < 3; c++)
                    planar[c * hw + i] = bg.RgbA[c] * (1 - g) + bg.RgbB[c] * g;
            }
        }
        foreach (var s in scene.Sprites)
            if (s.Visible.Contains(time)) DrawSprite(s, time, width, height, planar);
        if (amp > 0)
            for (int i = 0; i < 3 * hw; i++)
                planar[i] = Math.Clamp(planar[i] + amp * ((float)noise.NextDouble() - 0.5f), 0f, 1f);
    }

    static ToyBackdrop BackdropAt(ToyAvScene scene, double time)
    {
        foreach (var b in scene.Backdrops) if (b.When.Contains(time)) return b;
        return scene.Backdrops[^1];
    }

    /// <summary>Where the sprite is at <paramref name="time"/>: centre offset (fractions of the frame) and size factor.</summary>
    public (double dx, double dy, double scale) MotionAt(ToySprite s, double time)
    {
        foreach (var m in s.Moves)
        {
            if (!m.Contains(time)) continue;
            double u = (time - m.Start) / m.Seconds, a = motionAmplitude;
            return s.Motion switch
            {
                ToyMotion.Bounce => (0, -a * Math.Sin(Math.PI * u), 1),
                ToyMotion.Shake => (0.6 * a * Math.Sin(4 * Math.PI * u), 0, 1),
                ToyMotion.Pulse => (0, 0, 1 + 0.6 * Math.Sin(Math.PI * u)),
                _ => (0.6 * a * Math.Sin(2 * Math.PI * u), -0.6 * a * (1 - Math.Cos(2 * Math.PI * u)), 1), // orbit
            };
        }
        return (0, 0, 1);
    }

    void DrawSprite(ToySprite s, double time, int width, int height, Span<float> planar)
    {
        var (dx, dy, scale) = MotionAt(s, time);
        double side = Math.Min(width, height);
        double cx = (s.X + dx) * width, cy = (s.Y + dy) * height, half = s.Size * scale * side / 2;
        int x0 = Math.Max(0, (int)Math.Floor(cx - half)), x1 = Math.Min(width - 1, (int)Math.Ceiling(cx + half));
        int y0 = Math.Max(0, (int)Math.Floor(cy - half)), y1 = Math.Min(height - 1, (int)Math.Ceiling(cy + half));
        int hw = width * height;
        Span<float> rgb = stackalloc float[3];
        bool glowing = s.Sounding && soundingGlow > 0 && s.Moves.Any(m => m.Contains(time));
        for (int c = 0; c < 3; c++) rgb[c] = glowing ? s.Rgb[c] + (float)soundingGlow * (1 - s.Rgb[c]) : s.Rgb[c];
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                int hits = 0; // 2×2 supersampling: edge pixels get partial coverage
                for (int sy = 0; sy < 2; sy++)
                    for (int sx = 0; sx < 2; sx++)
                        if (Inside(s.Shape, (x + 0.25 + 0.5 * sx - cx) / half, (y + 0.25 + 0.5 * sy - cy) / half)) hits++;
                if (hits == 0) continue;
                float w = hits / 4f;
                int i = y * width + x;
                for (int c = 0; c < 3; c++)
                    planar[c * hw + i] = planar[c * hw + i] * (1 - w) + rgb[c] * w;
            }
    }

    /// <summary>Shape membership in local coordinates: (0,0) the centre, ±1 the edge of the box, y down.</summary>
    public static bool Inside(ToyShape shape, double lx, double ly)
    {
        double ax = Math.Abs(lx), ay = Math.Abs(ly);
        if (ax > 1 || ay > 1) return false;
        switch (shape)
        {
            case ToyShape.Circle: return lx * lx + ly * ly <= 1;
            case ToyShape.Square: return ax <= 0.8 && ay <= 0.8;
            case ToyShape.Triangle: return ly <= 0.85 && ax <= (ly + 0.95) / 1.8;
            case ToyShape.Plus: return (ax <= 0.3) || (ay <= 0.3);
            case ToyShape.Ring: { double r2 = lx * lx + ly * ly; return r2 <= 1 && r2 >= 0.3; }
            case ToyShape.Diamond: return ax + ay <= 1;
            case ToyShape.Bar: return ay <= 0.3;
            default: // Cross: a plus turned 45 degrees
            {
                double a = Math.Abs(lx + ly) / Math.Sqrt(2), b = Math.Abs(lx - ly) / Math.Sqrt(2);
                return (a <= 0.22 && b <= 1) || (b <= 0.22 && a <= 1);
            }
        }
    }

    /// <summary>
    /// The mono waveform, <paramref name="samples"/> long at <paramref name="sampleRate"/>: white background noise per clip
    /// window plus each sound (a harmonic tone following its class's pitch contour from its base pitch, 5 ms attack, soft release).
    /// </summary>
    public float[] Waveform(ToyAvScene scene, int sampleRate, int samples)
    {
        var wave = new float[samples];
        var noise = new ToyRandom(ToyRandom.Mix((long)scene.NoiseSeed, 0xa0d10, sampleRate));
        foreach (var b in scene.Backdrops)
        {
            int s0 = (int)Math.Round(b.When.Start * sampleRate), s1 = Math.Min(samples, (int)Math.Round(b.When.End * sampleRate));
            float amp = (float)(b.AudioNoise * Math.Sqrt(12));
            for (int i = Math.Max(0, s0); i < s1; i++) wave[i] = amp * ((float)noise.NextDouble() - 0.5f);
        }
        foreach (var s in scene.Sounds) AddTone(wave, sampleRate, classes[s.ClassIndex], s);
        for (int i = 0; i < samples; i++) wave[i] = Math.Clamp(wave[i], -1f, 1f);
        return wave;
    }

    static void AddTone(float[] wave, int sampleRate, ToyAvClass cls, ToySound s)
    {
        int s0 = (int)Math.Round(s.When.Start * sampleRate), n = (int)Math.Round(s.When.Seconds * sampleRate);
        double norm = 0;
        for (int h = 1; h <= s.Harmonics; h++) norm += 1.0 / h;
        double phase = 0, nyquist = sampleRate / 2.0;
        for (int i = 0; i < n && s0 + i < wave.Length; i++)
        {
            double u = (double)i / n, t = (double)i / sampleRate;
            double f = s.BasePitchHz * Math.Pow(2, cls.SemitonesAt(u) / 12);
            phase += 2 * Math.PI * f / sampleRate;
            double v = 0;
            for (int h = 1; h <= s.Harmonics && h * f < nyquist; h++) v += Math.Sin(h * phase) / h;
            double env = Math.Min(1, t / 0.005) * (u < 0.7 ? 1 : (1 - u) / 0.3);
            if (s0 + i >= 0) wave[s0 + i] += (float)(s.Gain * env * v / norm);
        }
    }
}
