using YamlDotNet.Serialization;

namespace AvBert.Config;

/// <summary>Clip geometry and the audio front end (SPEC §3, §4).</summary>
public sealed record DataConfig
{
    /// <summary>Frames per visual clip.</summary>
    public int NumFrames { get; init; } = 32;
    /// <summary>Frame step at TargetFps between sampled frames.</summary>
    public int SamplingRate { get; init; } = 2;
    public int TargetFps { get; init; } = 30;
    /// <summary>Clips per video sequence (T).</summary>
    public int SequenceLength { get; init; } = 10;
    public int TrainCropSize { get; init; } = 112;
    public int TestCropSize { get; init; } = 128;
    public int[] TrainJitterScales { get; init; } = [128, 160];
    public int TestSpatialCrops { get; init; } = 3;
    public double[] Mean { get; init; } = [0.45, 0.45, 0.45];
    public double[] Std { get; init; } = [0.225, 0.225, 0.225];
    public int AudioSampleRate { get; init; } = 44100;
    /// <summary>Mel bins.</summary>
    public int AudioFrequency { get; init; } = 80;
    /// <summary>Log-mel frames per clip.</summary>
    public int AudioTime { get; init; } = 128;
    public double FrequencyMaskRate { get; init; } = 0.05;
    public double TimeMaskRate { get; init; } = 0.05;

    /// <summary>Seconds one visual clip spans: NumFrames·SamplingRate/TargetFps.</summary>
    [YamlIgnore] public double ClipSeconds => (double)NumFrames * SamplingRate / TargetFps;
    /// <summary>Audio samples per clip window (94,080 at the defaults).</summary>
    [YamlIgnore] public int AudioClipSamples => (int)(AudioSampleRate * (long)NumFrames * SamplingRate / TargetFps);
}

/// <summary>Checks of the data section, run by <see cref="ConfigValidator"/>.</summary>
static class DataConfigChecks
{
    internal static void Check(DataConfig d, ConfigValidator.Checker check)
    {
        check(d.NumFrames >= 1, "data.num_frames", d.NumFrames, "must be >= 1");
        check(d.SamplingRate >= 1, "data.sampling_rate", d.SamplingRate, "must be >= 1");
        check(d.TargetFps >= 1, "data.target_fps", d.TargetFps, "must be >= 1");
        check(d.SequenceLength >= 1, "data.sequence_length", d.SequenceLength, "must be >= 1");
        check(d.TrainJitterScales.Length == 2 && d.TrainJitterScales[0] <= d.TrainJitterScales[1] && d.TrainJitterScales[0] >= d.TrainCropSize,
            "data.train_jitter_scales", d.TrainJitterScales, $"must be [min, max] with data.train_crop_size ({d.TrainCropSize}) <= min <= max");
        check(d.Mean.Length == 3 && d.Std.Length == 3 && d.Std.All(s => s > 0), "data.mean/std", d.Std, "must list 3 values each, std > 0");
        check(d.AudioFrequency >= 1 && d.AudioTime >= 1, "data.audio_frequency/audio_time", d.AudioFrequency, "must be >= 1");
        check(d.FrequencyMaskRate is >= 0 and < 1, "data.frequency_mask_rate", d.FrequencyMaskRate, "must be in [0, 1)");
        check(d.TimeMaskRate is >= 0 and < 1, "data.time_mask_rate", d.TimeMaskRate, "must be in [0, 1)");
    }
}
