using AvBert.Runtime;
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
        ulong x = SplitMix64.Mix((ulong)seed ^ SplitMix64.Gamma);
        x = SplitMix64.Mix(x ^ (ulong)step);
        x = SplitMix64.Mix(x ^ (ulong)micro * 0xBF58476D1CE4E5B9UL);
        return (long)(x >> 1);
    }

    /// <summary>A .NET <see cref="Random"/> for host-side choices derived from the same inputs.</summary>
    public static Random HostRandom(long seed, long step, int micro = 0) => new((int)(StepSeed(seed, step, micro) & 0x7FFFFFFF));
}
