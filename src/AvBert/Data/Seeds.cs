namespace AvBert.Data;

/// <summary>
/// Deterministic seeds for everything random in the data path: a SplitMix64 hash of (seed, epoch, index, ...), so an
/// item's augmentation depends only on those numbers — never on which worker thread loaded it or when.
/// </summary>
public static class Seeds
{
    static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>A non-negative 31-bit seed mixed from the given numbers (order matters).</summary>
    public static int Mix(params long[] parts)
    {
        ulong h = 0x1234_5678_9ABC_DEF0UL;
        foreach (var p in parts) h = SplitMix(h ^ unchecked((ulong)p));
        return (int)(h >> 33);
    }

    /// <summary>The random source for item <paramref name="index"/> in <paramref name="epoch"/> of a run seeded <paramref name="seed"/>.</summary>
    public static Random ForItem(int seed, int epoch, int index) => new(Mix(seed, epoch, index, 1));

    /// <summary>The order of a dataset of <paramref name="count"/> items in <paramref name="epoch"/> (Fisher–Yates).</summary>
    public static int[] Permutation(int count, int seed, int epoch)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        var rng = new Random(Mix(seed, epoch, 2));
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
