namespace AvBert.Synthetic;

public enum ToyShape { Circle, Square, Triangle, Plus, Ring, Diamond, Bar, Cross }

/// <summary>How an object moves during one of its events (u = progress through the event, 0→1).</summary>
public enum ToyMotion { Bounce, Shake, Pulse, Orbit }

/// <summary>The pitch contour of a sound over its event (u = progress 0→1), relative to the sound's own base pitch.</summary>
public enum ToyContour { Flat, Rise, Fall, RiseFall, FallRise, Trill, StepUp, StepDown }

/// <summary>
/// One event class: the colour (hue) of the sounding object, how it moves when it sounds, and its sound: a base pitch and
/// a pitch contour. Shapes, sizes and timbre are not part of the class: they vary from object to object and from sound
/// to sound (and the pitch is jittered).
/// </summary>
public sealed record ToyAvClass(int Index, string ColourName, double Hue, ToyContour Contour, ToyMotion Motion, double PitchHz)
{
    /// <summary>Folder-friendly name, e.g. "03-green-risefall".</summary>
    public string Name => $"{Index:D2}-{ColourName}-{Contour.ToString().ToLowerInvariant()}";

    /// <summary>Pitch offset in semitones at progress u of the event.</summary>
    public double SemitonesAt(double u) => Contour switch
    {
        ToyContour.Flat => 0,
        ToyContour.Rise => 12 * u,
        ToyContour.Fall => -12 * u,
        ToyContour.RiseFall => 12 * Math.Sin(Math.PI * u),
        ToyContour.FallRise => -12 * Math.Sin(Math.PI * u),
        ToyContour.Trill => 3 * Math.Sin(2 * Math.PI * 6 * u),
        ToyContour.StepUp => u < 0.5 ? 0 : 7,
        _ => u < 0.5 ? 0 : -7, // StepDown
    };
}

/// <summary>The fixed table of event classes: class k has hue k, pitch k and contour k; motions repeat every four classes.</summary>
public static class ToyAvClasses
{
    public const int Max = 8;

    static readonly (string Name, double Hue)[] Colours =
    [
        ("red", 0 / 360.0), ("orange", 32 / 360.0), ("yellow", 58 / 360.0), ("green", 120 / 360.0),
        ("cyan", 182 / 360.0), ("blue", 228 / 360.0), ("purple", 275 / 360.0), ("magenta", 318 / 360.0),
    ];

    // Base pitches spread over two octaves, in an order unrelated to the colour order.
    static readonly double[] Pitches = [262, 523, 330, 784, 415, 988, 294, 659];

    static readonly ToyContour[] Contours =
        [ToyContour.Flat, ToyContour.Rise, ToyContour.Fall, ToyContour.RiseFall, ToyContour.FallRise, ToyContour.Trill, ToyContour.StepUp, ToyContour.StepDown];

    public static IReadOnlyList<ToyAvClass> Table(int numClasses)
    {
        if (numClasses is < 2 or > Max)
            throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, $"toy-av has 2..{Max} classes");
        // With fewer classes, spread them over the colour wheel and the contour list.
        return Enumerable.Range(0, numClasses)
            .Select(k => (k, j: k * Max / numClasses))
            .Select(p => new ToyAvClass(p.k, Colours[p.j].Name, Colours[p.j].Hue, Contours[p.j], (ToyMotion)(p.k % 4), Pitches[p.j]))
            .ToList();
    }
}
