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
    public double EventProbability { get; init; } = 0.5;
    /// <summary>Event length in seconds, [min, max]: the object moves and sounds for this long.</summary>
    public double[] EventSeconds { get; init; } = [0.4, 0.5];
    /// <summary>
    /// Silent objects per video, each coloured like another class (so colour alone does not say which object is the
    /// event): they stay for the whole video and move at random times without a sound.
    /// </summary>
    public int Distractors { get; init; } = 1;
    /// <summary>
    /// Distractors stay the same objects (colours) for the whole video (true), or each clip window shows new ones (false):
    /// then the sounding object is the only one that lasts, and what persists over the clips is the class.
    /// </summary>
    public bool PersistentDistractors { get; init; } = true;
    /// <summary>Chance per clip window that a distractor makes one silent move.</summary>
    public double DistractorMoveProbability { get; init; } = 0.25;
    /// <summary>Object size as a fraction of the frame side, [min, max].</summary>
    public double[] ObjectSize { get; init; } = [0.35, 0.45];
    /// <summary>How far a moving object travels, as a fraction of the frame side.</summary>
    public double MotionAmplitude { get; init; } = 0.12;
    /// <summary>
    /// How much the sounding object lights up while it sounds (its colour blended towards white by this fraction; 0 = not at
    /// all). Distractors never light up, so what sounds is also visible in single frames, not only in motion.
    /// </summary>
    public double SoundingGlow { get; init; } = 1;
    /// <summary>Random hue shift of an object's colour, as a fraction of the colour wheel either way.</summary>
    public double HueJitter { get; init; } = 0.02;
    /// <summary>
    /// How much the background varies: 0 = always the same dark grey, 1 = random low-saturation gradients. At 1 the
    /// background dominates what a small CNN sees and pretraining learned little in the demo's budget; 0.5 keeps it varied.
    /// </summary>
    public double BackgroundVariation { get; init; } = 0.5;
    /// <summary>Largest standard deviation of per-pixel noise (RGB in [0,1]); each clip draws its own level.</summary>
    public double PixelNoise { get; init; } = 0.06;
    /// <summary>Largest standard deviation of the background audio noise (waveform in [-1,1]); each clip draws its own.</summary>
    public double AudioNoise { get; init; } = 0.05;
    /// <summary>Random shift of each sound's base pitch from its class's, in semitones either way.</summary>
    public double PitchJitterSemitones { get; init; } = 1.0;
    /// <summary>Harmonics of each sound, drawn from 1..MaxHarmonics (the timbre): not part of the class.</summary>
    public int MaxHarmonics { get; init; } = 4;
    /// <summary>
    /// Off-screen sounds per video: classes that are neither the event nor a distractor on screen, heard at random times
    /// with no object moving along (so the soundtrack alone does not say which class the event is either).
    /// </summary>
    public int OffscreenSounds { get; init; } = 1;
    /// <summary>Chance per clip window that each off-screen sound plays once.</summary>
    public double OffscreenSoundProbability { get; init; } = 0.25;
    /// <summary>
    /// Redraw positions, sizes, shapes and the background for every clip window (true), or once per video. Object
    /// colours are the objects' identities and stay the same for the whole video either way.
    /// </summary>
    public bool PerClipNuisance { get; init; } = true;
}
