namespace AvBert.Synthetic;

public enum ToyShape { Circle, Square, Triangle, Plus, Ring, Diamond, Bar, Cross }

/// <summary>How an object moves during one of its events (u = progress through the event, 0→1).</summary>
public enum ToyMotion { Bounce, Shake, Pulse, Orbit }

/// <summary>
/// One event class: what the sounding object looks like (shape), how it moves when it sounds (motion), and what it sounds
/// like (a harmonic tone: fundamental, number of harmonics, pitch glide over the event).
/// </summary>
public sealed record ToyAvClass(int Index, ToyShape Shape, ToyMotion Motion, double PitchHz, int Harmonics, double GlideOctaves)
{
    /// <summary>Folder-friendly name, e.g. "03-plus-orbit".</summary>
    public string Name => $"{Index:D2}-{Shape.ToString().ToLowerInvariant()}-{Motion.ToString().ToLowerInvariant()}";
}

/// <summary>The fixed table of event classes: class k has shape k; motion, pitch and timbre vary independently of it.</summary>
public static class ToyAvClasses
{
    public const int Max = 8;

    // Fundamentals spread over ~3 octaves, in an order unrelated to the shape order.
    static readonly double[] Pitches = [262, 523, 330, 784, 415, 988, 294, 659];
    static readonly int[] HarmonicCounts = [1, 4, 2, 6, 3, 1, 5, 2];
    static readonly double[] Glides = [0, 0.5, -0.5, 0, 0.5, -0.5, 0, 0.3];

    public static IReadOnlyList<ToyAvClass> Table(int numClasses)
    {
        if (numClasses is < 2 or > Max)
            throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, $"toy-av has 2..{Max} classes");
        return Enumerable.Range(0, numClasses)
            .Select(k => new ToyAvClass(k, (ToyShape)k, (ToyMotion)(k % 4), Pitches[k], HarmonicCounts[k], Glides[k]))
            .ToList();
    }
}
