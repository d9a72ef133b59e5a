using AvBert.Runtime;

namespace AvBert.Synthetic;

/// <summary>
/// The toy data's random source: a <see cref="SplitMix64"/> generator with the draws the scenes need (uniform,
/// Gaussian, shuffles, colours).
/// </summary>
public sealed class ToyRandom(ulong seed)
{
    ulong _state = seed;

    /// <summary>Mixes several integers into one well-spread seed.</summary>
    public static ulong Mix(params long[] parts)
    {
        ulong h = SplitMix64.Gamma;
        foreach (var p in parts) h = SplitMix64.Finalize(h ^ (ulong)p) + SplitMix64.Gamma;
        return h;
    }

    public ulong NextUInt64() => SplitMix64.Next(ref _state);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Uniform integer in [0, n).</summary>
    public int Next(int n) => (int)(NextUInt64() % (ulong)n);

    public bool Chance(double p) => NextDouble() < p;

    /// <summary>Standard normal (Box-Muller).</summary>
    public double Gaussian()
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>In-place Fisher-Yates shuffle.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>A random saturated colour (HSV with saturation and value in the given ranges), RGB in [0,1].</summary>
    public float[] Colour(double minSat, double maxSat, double minVal, double maxVal) =>
        Hsv(NextDouble(), Uniform(minSat, maxSat), Uniform(minVal, maxVal));

    /// <summary>HSV (each in [0,1]) to RGB in [0,1].</summary>
    public static float[] Hsv(double hue, double s, double v)
    {
        double h = (hue - Math.Floor(hue)) * 6;
        int i = (int)h;
        double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
        var (r, g, b) = i switch { 0 => (v, t, p), 1 => (q, v, p), 2 => (p, v, t), 3 => (p, q, v), 4 => (t, p, v), _ => (v, p, q) };
        return [(float)r, (float)g, (float)b];
    }
}
