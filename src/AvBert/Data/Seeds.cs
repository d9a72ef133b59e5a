using AvBert.Runtime;

namespace AvBert.Data;

/// <summary>
/// Deterministic seeds for everything random in the data path: a SplitMix64 hash of (seed, epoch, index, ...), so an
/// item's augmentation depends only on those numbers — never on which worker thread loaded it or when.
/// </summary>
public static class Seeds
{
    /// <summary>A non-negative 31-bit seed mixed from the given numbers (order matters).</summary>
    public static int Mix(params long[] parts)
    {
        ulong h = 0x1234_5678_9ABC_DEF0UL;
        foreach (var p in parts) h = SplitMix64.Mix(h ^ unchecked((ulong)p));
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
