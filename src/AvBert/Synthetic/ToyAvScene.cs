namespace AvBert.Synthetic;

/// <summary>An interval [Start, Start+Seconds) of a video, in seconds.</summary>
public readonly record struct TimeSpanSec(double Start, double Seconds)
{
    public double End => Start + Seconds;
    public bool Contains(double t) => t >= Start && t < End;
}

/// <summary>
/// An object on screen during [Visible.Start, Visible.End): a shape of some colour at (X, Y) (centre, fractions of the
/// frame) of Size (fraction of the frame side), which moves with <see cref="Motion"/> during each of <see cref="Moves"/>.
/// <see cref="Sounding"/>: the labelled object, whose moves are the sound events.
/// </summary>
public sealed record ToySprite(ToyShape Shape, ToyMotion Motion, float[] Rgb, double X, double Y, double Size,
                               TimeSpanSec Visible, IReadOnlyList<TimeSpanSec> Moves, bool Sounding);

/// <summary>A sound during <see cref="When"/> with the pitch contour of class <see cref="ClassIndex"/>, starting from
/// <see cref="BasePitchHz"/>, with 1..n harmonics, at a gain.</summary>
public sealed record ToySound(int ClassIndex, TimeSpanSec When, double BasePitchHz, int Harmonics, double Gain);

/// <summary>The background of one clip window: a two-colour linear gradient plus per-pixel noise; audio noise level.</summary>
public sealed record ToyBackdrop(TimeSpanSec When, float[] RgbA, float[] RgbB, double AngleRadians, double PixelNoise, double AudioNoise);

/// <summary>
/// A whole toy-av video, described before rendering: the class label, sprites, sounds and backdrops over
/// <see cref="DurationSeconds"/>. Rendering it (frames or waveform) is deterministic: <see cref="NoiseSeed"/> drives the noise.
/// </summary>
public sealed record ToyAvScene(int Label, double DurationSeconds, IReadOnlyList<ToySprite> Sprites, IReadOnlyList<ToySound> Sounds,
                                IReadOnlyList<ToyBackdrop> Backdrops, ulong NoiseSeed)
{
    /// <summary>The intervals in which the labelled object moves and sounds.</summary>
    public IEnumerable<TimeSpanSec> Events => Sprites.Where(s => s.Sounding).SelectMany(s => s.Moves);
}
