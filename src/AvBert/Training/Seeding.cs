using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>
/// Reproducible randomness. A run reseeds torch before every micro-step from (seed, step, micro-step), so a resumed run
/// draws exactly the random numbers (masks, negatives, dropout) the uninterrupted run would have drawn, without saving
/// generator state.
/// </summary>
public static class Seeding
{
    /// <summary>Seeds torch's default generator (and CUDA's when present).</summary>
    public static void Seed(long seed)
    {
        manual_seed(seed);
        if (cuda.is_available()) cuda.manual_seed_all(seed);
    }

    /// <summary>A well-mixed 63-bit seed for one micro-step (SplitMix64 over the inputs).</summary>
    public static long StepSeed(long seed, long step, int micro = 0)
    {
        ulong x = Mix((ulong)seed ^ 0x9E3779B97F4A7C15UL);
        x = Mix(x ^ (ulong)step);
        x = Mix(x ^ (ulong)micro * 0xBF58476D1CE4E5B9UL);
        return (long)(x >> 1);
    }

    /// <summary>A .NET <see cref="Random"/> for host-side choices derived from the same inputs.</summary>
    public static Random HostRandom(long seed, long step, int micro = 0) => new((int)(StepSeed(seed, step, micro) & 0x7FFFFFFF));

    static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
