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
