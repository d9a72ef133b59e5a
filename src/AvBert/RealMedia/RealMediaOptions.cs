using System.Text.Json.Serialization;

namespace AvBert.RealMedia;

/// <summary>
/// How a video's picture and sound are chosen, which is also what its class is (see <see cref="RealMediaCatalog.ClassesOf"/>).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<RealMediaPairing>))]
public enum RealMediaPairing
{
    /// <summary>Picture and sound belong together: an animal's photo plays an animal's voice, a musical picture music, an
    /// object's photo an everyday noise (a subject's own sound first). 3 classes; sight alone, sound alone or both decide
    /// them. What audio-visual pretraining needs: what is seen predicts what is heard.</summary>
    Matched,
    /// <summary>Picture kind × sound kind, drawn independently: 3 × 3 = 9 classes that only both modalities decide. A
    /// harder probe benchmark, but the picture says nothing about the sound (off the diagonal), so a correspondence
    /// objective has nothing to learn from it.</summary>
    Crossed,
}

/// <summary>
/// What the real-media set is composed as: its pairing, how many videos per class and split, how long, at what frame size
/// and rate, and which share of the source assets is held out for testing. The defaults are the set <c>--data real</c>
/// reads (3 matched classes × (120 training + 48 test) = 504 videos of 5 s at 160×128, 30 fps, 44.1 kHz mono; crossed:
/// 9 classes × (40 + 16), also 504).
/// </summary>
public sealed record RealMediaOptions
{
    /// <summary>Seed of the split of the assets and of every video's pairing, sound segment and camera move.</summary>
    public int Seed { get; init; }
    public RealMediaPairing Pairing { get; init; } = RealMediaPairing.Matched;
    /// <summary>Training videos per class; null: the pairing's default (<see cref="TrainPerClass"/>).</summary>
    public int? TrainVideosPerClass { get; init; }
    /// <summary>Test videos per class; null: the pairing's default (<see cref="TestPerClass"/>).</summary>
    public int? TestVideosPerClass { get; init; }
    /// <summary>Training videos per class: 120 matched, 40 crossed unless set (360 training videos either way).</summary>
    [JsonIgnore] public int TrainPerClass => TrainVideosPerClass ?? (Pairing == RealMediaPairing.Crossed ? 40 : 120);
    /// <summary>Test videos per class: 48 matched, 16 crossed unless set (144 test videos either way).</summary>
    [JsonIgnore] public int TestPerClass => TestVideosPerClass ?? (Pairing == RealMediaPairing.Crossed ? 16 : 48);
    /// <summary>Every video of the set.</summary>
    [JsonIgnore] public int TotalVideos => RealMediaCatalog.ClassesOf(Pairing).Count * (TrainPerClass + TestPerClass);
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
        Require(TrainPerClass >= 1 && TestPerClass >= 1, $"videos per class {TrainPerClass} (train) / {TestPerClass} (test): need at least 1 each.");
        Require(Enum.IsDefined(Pairing), $"pairing {Pairing}: must be matched or crossed.");
        Require(TestFraction is > 0 and < 1, $"test fraction {TestFraction}: must lie strictly between 0 and 1.");
        Require(Seconds is >= 1 and <= 60, $"{Seconds} s per video: must be 1..60 s.");
        Require(Width is >= 16 and <= 1920 && Height is >= 16 and <= 1080 && Width % 2 == 0 && Height % 2 == 0,
                $"frame {Width}x{Height}: width and height must be even, 16..1920 × 16..1080.");
        Require(Fps is >= 1 and <= 120, $"{Fps} fps: must be 1..120.");
        Require(SampleRate is >= 8000 and <= 192000, $"{SampleRate} Hz: must be 8000..192000.");
        return this;
    }
}
