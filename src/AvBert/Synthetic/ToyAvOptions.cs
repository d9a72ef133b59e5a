namespace AvBert.Synthetic;

/// <summary>
/// Knobs of the built-in toy-av dataset (see <see cref="ToyAv"/>). Clip geometry (clips per video, frames, audio
/// window) comes from <see cref="Config.DataConfig"/>; these only say what happens in the scenes.
/// </summary>
public sealed record ToyAvOptions
{
    /// <summary>Event classes (at most <see cref="ToyAvClasses.Max"/>). Chance accuracy is 1/NumClasses.</summary>
    public int NumClasses { get; init; } = 8;
    /// <summary>Seeds every scene: the same seed, split and index always give the same video.</summary>
    public int Seed { get; init; } = 0;
    /// <summary>Chance that a clip window holds one audio-visual event (every video has at least one).</summary>
    public double EventProbability { get; init; } = 0.75;
    /// <summary>Event length in seconds, [min, max]: the object moves and sounds for this long.</summary>
    public double[] EventSeconds { get; init; } = [0.16, 0.3];
    /// <summary>Silent moving objects of other classes per clip window, drawn from 0..MaxDistractors.</summary>
    public int MaxDistractors { get; init; } = 2;
    /// <summary>Object size as a fraction of the frame side, [min, max].</summary>
    public double[] ObjectSize { get; init; } = [0.14, 0.24];
    /// <summary>How far a moving object travels, as a fraction of the frame side.</summary>
    public double MotionAmplitude { get; init; } = 0.12;
    /// <summary>Largest standard deviation of per-pixel noise (RGB in [0,1]); each clip draws its own level.</summary>
    public double PixelNoise { get; init; } = 0.08;
    /// <summary>Largest standard deviation of the background audio noise (waveform in [-1,1]); each clip draws its own.</summary>
    public double AudioNoise { get; init; } = 0.08;
    /// <summary>Chance per clip window of a distractor sound of another class while nothing on screen moves.</summary>
    public double AudioDistractorProbability { get; init; } = 0.0;
    /// <summary>Largest random pitch shift of a sound, in semitones either way.</summary>
    public double PitchJitterSemitones { get; init; } = 1.0;
    /// <summary>
    /// Redraw colours, positions, sizes and the background for every clip window (true), or once per video. With true,
    /// the only things a video's clips share are the event class (what it looks and sounds like) and nothing else.
    /// </summary>
    public bool PerClipNuisance { get; init; } = true;
}
