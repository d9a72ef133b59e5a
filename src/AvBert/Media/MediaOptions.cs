namespace AvBert.Media;

/// <summary>Process-wide settings of the FFmpeg front end. Defaults suit data loading; tests shorten the timeouts.</summary>
public static class MediaOptions
{
    /// <summary>Environment variable naming a folder that holds ffmpeg and ffprobe (default: found on PATH).</summary>
    public const string FfmpegDirVariable = "AVBERT_FFMPEG_DIR";

    static string Program(string name)
    {
        var dir = Environment.GetEnvironmentVariable(FfmpegDirVariable);
        return string.IsNullOrEmpty(dir) ? name : Path.Combine(dir, name);
    }

    public static string Ffmpeg { get; set; } = Program("ffmpeg");
    public static string Ffprobe { get; set; } = Program("ffprobe");

    /// <summary>Longest a probe may run before it is killed and the file reported as hung.</summary>
    public static TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest one decode may run before it is killed and the file reported as hung.</summary>
    public static TimeSpan DecodeTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Decoder threads per ffmpeg process; 0 lets FFmpeg choose. Set 1 when many workers decode in parallel.</summary>
    public static int DecoderThreads { get; set; } = 0;

    /// <summary>Longest audio track decoded whole (<c>AudioDecoder.Decode</c> with no duration); longer ones are decoded in windows.</summary>
    public static double MaxWholeAudioSeconds { get; set; } = 30 * 60;

    /// <summary>Most bytes of decoded frames one decode may ask for; more is refused with a <see cref="MediaError"/> naming the
    /// size (lower data.num_frames, the crop sizes or the clip span).</summary>
    public static long MaxFrameBytes { get; set; } = 1L << 30;

    /// <summary>Address-space limit (bytes) of each ffmpeg/ffprobe child, set with util-linux's prlimit (skipped where it is
    /// missing); 0 = none. A decode that needs more fails as that file's error ("Cannot allocate memory").</summary>
    public static long ChildMemoryLimitBytes { get; set; } = 8L << 30;

    /// <summary>Scaler used by ffmpeg's scale filter (bilinear: fast, and what video pipelines usually train with).</summary>
    public static string ScaleFlags { get; set; } = "bilinear";
}
