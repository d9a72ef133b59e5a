namespace AvBert.RealMedia;

/// <summary>
/// What the real-media set is composed as: how many videos per class and split, how long, at what frame size and rate,
/// and which share of the source assets is held out for testing. The defaults are the set <c>--data real</c> reads
/// (3×3 classes × (40 training + 16 test) = 504 videos of 5 s at 160×128, 30 fps, 44.1 kHz mono).
/// </summary>
public sealed record RealMediaOptions
{
    /// <summary>Seed of the split of the assets and of every video's pairing, sound segment and camera move.</summary>
    public int Seed { get; init; }
    public int TrainVideosPerClass { get; init; } = 40;
    public int TestVideosPerClass { get; init; } = 16;
    /// <summary>Share of the source items (a picture, a sound, or both of one subject) whose videos are all test videos.</summary>
    public double TestFraction { get; init; } = 0.3;
    /// <summary>Video length: at least the small preset's 4 clips of 0.53 s, with room for the clips to be placed.</summary>
    public double Seconds { get; init; } = 5;
    public int Width { get; init; } = 160;
    public int Height { get; init; } = 128;
    public int Fps { get; init; } = 30;
    public int SampleRate { get; init; } = 44100;

    /// <summary>Throws a <see cref="Runtime.UserError"/> naming the first setting that cannot make a data set.</summary>
    public RealMediaOptions Validated()
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new Runtime.UserError($"real media: {what}");
        }
        Require(TrainVideosPerClass >= 1 && TestVideosPerClass >= 1, $"videos per class {TrainVideosPerClass} (train) / {TestVideosPerClass} (test): need at least 1 each.");
        Require(TestFraction is > 0 and < 1, $"test fraction {TestFraction}: must lie strictly between 0 and 1.");
        Require(Seconds is >= 1 and <= 60, $"{Seconds} s per video: must be 1..60 s.");
        Require(Width is >= 16 and <= 1920 && Height is >= 16 and <= 1080 && Width % 2 == 0 && Height % 2 == 0,
                $"frame {Width}x{Height}: width and height must be even, 16..1920 × 16..1080.");
        Require(Fps is >= 1 and <= 120, $"{Fps} fps: must be 1..120.");
        Require(SampleRate is >= 8000 and <= 192000, $"{SampleRate} Hz: must be 8000..192000.");
        return this;
    }
}
