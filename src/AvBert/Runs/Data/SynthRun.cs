using AvBert.Config;
using AvBert.Runtime;
using AvBert.Synthetic;

namespace AvBert.Runs;

/// <summary>`avbert synth`: how many toy-av videos, of what size and seed, with which toy-av settings.</summary>
public sealed record SynthOptions
{
    /// <summary>The clip geometry (data.target_fps is the videos' frame rate).</summary>
    public required DataConfig Data { get; init; }
    public int Train { get; init; }
    public int Test { get; init; }
    /// <summary>Frame side in pixels (square frames).</summary>
    public int Size { get; init; }
    public int Seed { get; init; }
    public int Classes { get; init; }
    /// <summary>toy-av settings KEY=VALUE (<see cref="SynthRun.ToyKeys"/>).</summary>
    public IReadOnlyList<string> Toy { get; init; } = [];
}

/// <summary>`avbert synth --out DIR`: the built-in toy-av dataset written as real video files (docs/demo-and-experiments.md).
/// <see cref="Prepare"/> checks the options; <see cref="Write"/> writes.</summary>
public sealed class SynthRun
{
    /// <summary>The most event classes toy-av has.</summary>
    public const int MaxClasses = ToyAvClasses.Max;

    /// <summary>The keys of the toy-av settings --toy KEY=VALUE overrides.</summary>
    public static IEnumerable<string> ToyKeys => ToyAvOptionsParser.Keys;

    readonly SynthOptions _options;
    readonly ToyAv _data;

    SynthRun(SynthOptions options, ToyAv data) => (_options, _data) = (options, data);

    public static SynthRun Prepare(SynthOptions o)
    {
        int nTrain = o.Train, nTest = o.Test, side = o.Size, k = o.Classes;
        if (nTrain < 0 || nTest < 0 || nTrain + nTest == 0) throw new UserError($"--train {nTrain} --test {nTest}: need at least one video and no negative counts.");
        if (side is < 16 or > 1024 || side % 2 != 0) throw new UserError($"--size {side}: must be an even number of pixels in 16..1024.");
        if (k is < 2 or > ToyAvClasses.Max) throw new UserError($"--classes {k}: toy-av has 2..{ToyAvClasses.Max} classes.");
        return new SynthRun(o, new ToyAv(ToyAvOptionsParser.Apply(new ToyAvOptions { Seed = o.Seed, NumClasses = k }, o.Toy), o.Data));
    }

    public int Videos => _options.Train + _options.Test;
    public double VideoSeconds => _data.DurationSeconds;
    public int SampleRate => _data.SampleRate;

    /// <summary>Writes DIR/{train,test}/CLASS/*.mp4, DIR/{train,test}.csv and DIR/classes.txt; <paramref name="written"/> counts the videos.</summary>
    public void Write(string dir, Action written, CancellationToken ct = default) =>
        new ToyAvWriter(_data, _options.Data.TargetFps).Write(dir, new ToyAvWriteOptions { TrainVideos = _options.Train, TestVideos = _options.Test, FrameSize = _options.Size },
                                                              _ => written(), ct);
}
