namespace AvBert.Runtime;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014): the one seeded
/// generator and integer mixer of the project. The same inputs give the same numbers on every platform and .NET
/// version, which <see cref="System.Random"/> and <see cref="HashCode"/> do not promise. Step seeds, data-path seeds
/// and the synthetic toy data all draw from it.
/// </summary>
public static class SplitMix64
{
    /// <summary>The increment of the generator's state (the golden-ratio constant).</summary>
    public const ulong Gamma = 0x9E3779B97F4A7C15UL;

    /// <summary>The output function: a well-spread 64-bit value of <paramref name="z"/>.</summary>
    public static ulong Finalize(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>One generator step from state <paramref name="z"/> (advance by <see cref="Gamma"/>, then finalize): the
    /// number a generator whose state is <paramref name="z"/> draws next.</summary>
    public static ulong Mix(ulong z) => Finalize(z + Gamma);

    /// <summary>Advances <paramref name="state"/> and returns the next number.</summary>
    public static ulong Next(ref ulong state)
    {
        state += Gamma;
        return Finalize(state);
    }
}
