namespace AvBert.Media;

/// <summary>What ffprobe says about a file. Video is null for audio-only files, Audio for silent videos.</summary>
public sealed record MediaInfo(string Path, double DurationSeconds, VideoStreamInfo? Video, AudioStreamInfo? Audio)
{
    public bool HasVideo => Video is not null;
    public bool HasAudio => Audio is not null;
    public string Container { get; init; } = "";
}

/// <summary>The first video stream (cover pictures excluded). Width/Height are as displayed (rotation applied).</summary>
public sealed record VideoStreamInfo(int Width, int Height, double Fps, double DurationSeconds, string Codec);

/// <summary>The first audio stream.</summary>
public sealed record AudioStreamInfo(int SampleRate, int Channels, double DurationSeconds, string Codec);

/// <summary>Frames decoded by <see cref="VideoDecoder.Decode"/>: Count frames of Height×Width×3 RGB bytes (HWC).
/// The first RealFrames came from the file; the rest repeat the last real frame (the file ended early).</summary>
public sealed record DecodedFrames(byte[] Rgb, int Count, int Width, int Height, int RealFrames)
{
    public int FrameBytes => Width * Height * 3;
    public bool Padded => RealFrames < Count;
    public ReadOnlySpan<byte> Frame(int i) => Rgb.AsSpan(i * FrameBytes, FrameBytes);
}

/// <summary>Mono float samples decoded by <see cref="AudioDecoder.DecodeClip"/>. The first RealSamples came from the file;
/// the rest are zeros (the track ended early, or started later than asked).</summary>
public sealed record DecodedAudio(float[] Samples, int SampleRate, int RealSamples)
{
    public bool Padded => RealSamples < Samples.Length;
}
