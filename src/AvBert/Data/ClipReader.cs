using AvBert.Config;
using AvBert.Features;
using AvBert.Media;
using System.Diagnostics;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Data;

/// <summary>How one sample's clips are chosen: relative positions (see <see cref="ClipSampling"/>), train or test crop.</summary>
public sealed record ClipRequest(double[] Positions, SampleMode Mode, int SpatialCrop = 1)
{
    /// <summary>Usable part of the file in seconds (a segment of an untrimmed video); null = from the start / to the end.</summary>
    public double? RangeStart { get; init; }
    public double? RangeEnd { get; init; }
    /// <summary>Keep the whole decoded waveform of the range (for <c>inspect</c>), when it is at most
    /// <see cref="ClipReader.KeepWaveformMaxSeconds"/> long.</summary>
    public bool KeepWaveform { get; init; }
}

/// <summary>The clips read from one file: arrays laid out as in <see cref="ClipSequence"/> (the visual clips as uint8 crops
/// [T, F, S, S, 3], not yet flipped or normalised: <see cref="ModelVisual"/>).</summary>
public sealed record ClipData(byte[]? Visual, long[] VisualShape, float[]? Audio, long[] AudioShape,
                              double[] ClipStartSeconds, long[] AudioClipStarts, MediaInfo Info)
{
    public VisualView? View { get; init; }
    public SpectrogramMasks? Masks { get; init; }
    /// <summary>The decoded mono waveform of the usable range (only when asked for and not too long); AudioClipStarts index into it.</summary>
    public float[]? Waveform { get; init; }
    /// <summary>Start of <see cref="Waveform"/> (and of AudioClipStarts' origin) in seconds from the start of the file.</summary>
    public double RangeStart { get; init; }
    /// <summary>Turns <see cref="Visual"/> into model input (the train view's flip, mean/std).</summary>
    public PixelNormalization? Pixels { get; init; }

    /// <summary>The visual clips as the model sees them: [T, 3, F, S, S] float32 row-major (flipped, normalised), or null.</summary>
    public float[]? ModelVisual() => Visual is null ? null : Pixels!.ToModelArray(Visual, VisualShape, View?.Flip == true);
}

/// <summary>
/// What <see cref="ClipReader"/> reads one item's bytes from: the item's file (decoded with FFmpeg) or a prepared set's files
/// (Data/Prepared). The clip times, views, crops, audio windows and log-mel are the reader's, the same for every media.
/// Times are in the media's clock: 0 is <see cref="Origin"/> seconds into the item's file.
/// </summary>
internal abstract class ClipMedia
{
    /// <summary>The item's file (for messages).</summary>
    public abstract string Path { get; }
    /// <summary>The streams as a probe of the item's file says.</summary>
    public abstract MediaInfo Info { get; }
    /// <summary>The usable range (the item's segment).</summary>
    public abstract double RangeStart { get; }
    public abstract double RangeEnd { get; }
    /// <summary>Where time 0 of this media lies in the item's file (seconds).</summary>
    public virtual double Origin => 0;
    /// <summary>Reads the visual clips starting at <paramref name="starts"/> into <paramref name="dst"/> (crops of
    /// <paramref name="view"/>); returns the start times of the frames actually used.</summary>
    public abstract double[] ReadVisual(double[] starts, VisualView view, byte[] dst, Func<VideoDecoder.FrameSpan, byte[]?>? decoded,
                                        CancellationToken ct);
    /// <summary>The whole mono waveform of the usable range (callers must not modify it).</summary>
    public abstract float[] Waveform(CancellationToken ct);
    /// <summary>Windows of <paramref name="count"/> samples at <paramref name="starts"/> (samples from the range start),
    /// [starts.Length, count] row-major, zero past the end.</summary>
    public abstract float[] Windows(long[] starts, int count, CancellationToken ct);
}

/// <summary>
/// Reads the T clips of one file into model input: probes it, decodes the visual clips with FFmpeg (scaled for the view,
/// at TARGET_FPS/SAMPLING_RATE), crops them (as bytes: flip and normalisation run on the model's device, see
/// <see cref="PixelNormalization"/>), decodes the mono 44.1 kHz audio, cuts the aligned windows,
/// computes log-mel and, in training, applies the shared spectrogram masks (SPEC §3–4).
/// <para>Visual clips close together or within <see cref="UnionDecodeMaxSeconds"/> (30 s) are decoded in one FFmpeg run over
/// their union (then sliced; the fastest way we measured); clips spread over longer videos are decoded by one FFmpeg run
/// that seeks to each group of nearby clips (<see cref="VideoDecoder.DecodeClips"/>). Audio of ranges up to <see cref="WholeAudioSeconds"/> is decoded once and windowed
/// (and kept, within <see cref="WaveformCacheBytes"/>, for the file's other views and later epochs); longer ones
/// window by window (nearby windows share one decode). A stream the modalities need but the file lacks is a <see cref="MediaError"/>.</para>
/// <para>An item of a prepared set (<see cref="MediaItem.Prepared"/>) reads its clips through its own reader (PreparedClipReader,
/// in Data/Prepared), which shares this one's sampling and transforms (<see cref="ClipMedia"/>).</para>
/// Thread-safe; randomness only from the <see cref="Random"/>s passed in.
/// </summary>
public sealed class ClipReader
{
    /// <summary>Audio ranges up to this many seconds are decoded whole, then windowed; longer ones window by window.</summary>
    public double WholeAudioSeconds { get; init; } = 120;
    /// <summary>Longest range whose whole waveform <see cref="ClipRequest.KeepWaveform"/> keeps; longer ones decode only the windows.</summary>
    public double KeepWaveformMaxSeconds { get; init; } = 600;
    /// <summary>Clips spanning up to this many seconds are decoded in one FFmpeg run; beyond, one seek per clip.</summary>
    public double UnionDecodeMaxSeconds { get; init; } = 30;
    /// <summary>Most bytes of frames the one-run union decode may hold; beyond, the clips are decoded separately.</summary>
    public long UnionDecodeMaxBytes { get; init; } = 256L << 20;
    readonly DataConfig _data;
    readonly VisualTransform _transform;
    readonly LogMel _logMel;

    public Modalities Modalities { get; }
    /// <summary>Audio samples per clip window (AudioClipSamples unless overridden, e.g. 2 s for ESC-50).</summary>
    public int AudioWindowSamples { get; }

    public ClipReader(DataConfig data, Modalities modalities, int? audioWindowSamples = null)
    {
        _data = data;
        Modalities = modalities;
        AudioWindowSamples = audioWindowSamples ?? data.AudioClipSamples;
        _transform = new VisualTransform(data);
        _logMel = new LogMel(new LogMelOptions(data.AudioSampleRate, data.AudioFrequency, data.AudioTime));
    }

    public LogMel LogMel => _logMel;

    // Probing costs an ffprobe run (~0.1–0.2 s): once per file per reader, not once per view and epoch.
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, MediaInfo> _probes = new();

    MediaInfo Probe(string path, CancellationToken ct)
    {
        if (_probes.TryGetValue(path, out var info)) return info;
        info = MediaProbe.Probe(path, ct);
        _probes.TryAdd(path, info);
        return info;
    }
    internal double ClipFps => (double)_data.TargetFps / _data.SamplingRate;
    internal DataConfig Data => _data;

    /// <summary>Where this reader's time went (decoding vs. crop/normalise/log-mel), over all threads.</summary>
    public ReaderTimings Timings { get; } = new();

    /// <summary>The usable part [start, end] of a file in seconds: the item's segment clamped to the file (the whole file
    /// when the item has none). <c>avbert prep</c> cuts the same range.</summary>
    public static (double Start, double End) UsableRange(MediaInfo info, double? start, double? end)
    {
        double s = Math.Clamp(start ?? 0, 0, info.DurationSeconds);
        return (s, Math.Clamp(end ?? info.DurationSeconds, s, info.DurationSeconds));
    }

    /// <summary>Bytes of decoded waveforms kept for reuse (0 = none): the views and epochs of a short file then decode it
    /// once, not once per window — an audio task's 10 windows per file each started FFmpeg on the whole file.</summary>
    public long WaveformCacheBytes { get; set; } = 256L << 20;
    readonly WaveformCache _waves = new();

    /// <summary>The mono waveform of [start, start + seconds] (a segment's end when <paramref name="hasEnd"/>, else the rest of
    /// the file, bounded by the probed length plus a second: streams may run a little past the container's duration, and a
    /// file whose header claims less than it holds cannot make the decode grow without limit), decoded once while it fits
    /// in <see cref="WaveformCacheBytes"/>. Callers must not modify it.</summary>
    float[] WholeAudio(string path, double start, double seconds, bool hasEnd, int sampleRate, CancellationToken ct)
    {
        var file = new FileInfo(path);
        var key = (file.FullName, file.Exists ? file.Length : -1, file.Exists ? file.LastWriteTimeUtc.Ticks : 0, start, hasEnd ? seconds : -1);
        if (_waves.TryGet(key, out var wave)) return wave;
        if (hasEnd) wave = AudioDecoder.Decode(path, start, Math.Max(seconds, 1.0 / sampleRate), sampleRate, ct);
        else
        {
            var rest = AudioDecoder.DecodeClip(path, start, seconds + 1, sampleRate, ct);
            wave = rest.Samples[..rest.RealSamples];
        }
        _waves.Add(key, wave, WaveformCacheBytes);
        return wave;
    }

    /// <summary>Reads the clips at <paramref name="request"/>'s positions from the file at <paramref name="path"/>. Train
    /// randomness: <paramref name="visualRng"/> (view), <paramref name="audioRng"/> (masks).</summary>
    /// <param name="decoded">Frames already decoded for a span (decoded for several samples in one FFmpeg run, see
    /// <see cref="IPreparedItem.VisualSpan"/>), or null when that span must be decoded here.</param>
    public ClipData Read(string path, ClipRequest request, Random? visualRng, Random? audioRng, CancellationToken ct,
                         Func<VideoDecoder.FrameSpan, byte[]?>? decoded = null)
    {
        var info = Probe(path, ct);
        return Read(new SourceFile(this, path, info, request), request, visualRng, audioRng, ct, decoded);
    }

    /// <summary>Reads the clips of <paramref name="media"/> at <paramref name="request"/>'s positions: the clip times, the
    /// view, the crops, the audio windows, log-mel and masks are the same whatever the media reads its bytes from (the item's
    /// file here, a prepared set's files for an <see cref="IPreparedItem"/>).</summary>
    internal ClipData Read(ClipMedia media, ClipRequest request, Random? visualRng, Random? audioRng, CancellationToken ct,
                           Func<VideoDecoder.FrameSpan, byte[]?>? decoded)
    {
        var (path, info, rangeStart, rangeEnd, origin) = (media.Path, media.Info, media.RangeStart, media.RangeEnd, media.Origin);
        int T = request.Positions.Length;

        byte[]? visual = null; long[] visualShape = [];
        double[] clipStarts = [];
        VisualView? view = null;
        if (Modalities.HasFlag(Modalities.Visual))
        {
            (view, clipStarts) = VisualSetup(path, info, request, rangeStart, rangeEnd, visualRng);
            int F = _data.NumFrames, S = view.CropSize;
            visualShape = [T, F, S, S, 3];
            visual = new byte[(long)T * F * S * S * 3];
            clipStarts = media.ReadVisual(clipStarts, view, visual, decoded, ct);
            if (origin != 0) for (int k = 0; k < T; k++) clipStarts[k] += origin;
        }

        float[]? audio = null; long[] audioShape = [];
        long[] audioStarts = [];
        float[]? waveform = null;
        SpectrogramMasks? masks = null;
        if (Modalities.HasFlag(Modalities.Audio))
        {
            if (info.Audio is null) throw new MediaError(path, "no audio stream");
            int sr = _data.AudioSampleRate, W = AudioWindowSamples;
            double seconds = rangeEnd - rangeStart;
            float[] windows;
            long decodeStart = Stopwatch.GetTimestamp();
            bool keepWaveform = request.KeepWaveform && seconds <= KeepWaveformMaxSeconds;
            if (keepWaveform || seconds <= WholeAudioSeconds)
            {
                var wave = media.Waveform(ct);
                audioStarts = request.Positions.Select(r => ClipSampling.AudioStart(r, wave.Length, W)).ToArray();
                windows = ClipSampling.CutWindows(wave, audioStarts, W);
                if (keepWaveform) waveform = wave;
            }
            else
            {
                long total = (long)Math.Round(seconds * sr);
                audioStarts = request.Positions.Select(r => ClipSampling.AudioStart(r, total, W)).ToArray();
                windows = media.Windows(audioStarts, W, ct);
            }
            Timings.AddDecode(decodeStart);
            ct.ThrowIfCancellationRequested();
            long transformStart = Stopwatch.GetTimestamp();
            audio = _logMel.Compute(windows, T, W);                              // [T, FREQ, TIME]
            if (request.Mode == SampleMode.Train)
            {
                masks = SpectrogramMasks.Sample(audioRng ?? throw new ArgumentNullException(nameof(audioRng)),
                                                _data.AudioFrequency, _data.AudioTime, _data.FrequencyMaskRate, _data.TimeMaskRate);
                masks.Apply(audio, _data.AudioFrequency, _data.AudioTime);
            }
            audioShape = [T, 1, _data.AudioFrequency, _data.AudioTime];
            Timings.AddTransform(transformStart);
        }

        return new ClipData(visual, visualShape, audio, audioShape, clipStarts, audioStarts, info)
        {
            View = view, Masks = masks, Waveform = waveform, RangeStart = rangeStart + origin, Pixels = _transform.Normalization,
        };
    }

    /// <summary>An item's file, read with FFmpeg: the usable range of the request's segment, the clips decoded from it.</summary>
    sealed class SourceFile : ClipMedia
    {
        readonly ClipReader _reader;
        readonly bool _hasEnd;

        public SourceFile(ClipReader reader, string path, MediaInfo info, ClipRequest request)
        {
            (_reader, Path, Info, _hasEnd) = (reader, path, info, request.RangeEnd is not null);
            (RangeStart, RangeEnd) = UsableRange(info, request.RangeStart, request.RangeEnd);
        }

        public override string Path { get; }
        public override MediaInfo Info { get; }
        public override double RangeStart { get; }
        public override double RangeEnd { get; }

        public override double[] ReadVisual(double[] starts, VisualView view, byte[] dst, Func<VideoDecoder.FrameSpan, byte[]?>? decoded,
                                            CancellationToken ct) =>
            _reader.ReadVisual(Path, starts, view, dst, ct, clipRateFile: false, decoded);

        public override float[] Waveform(CancellationToken ct) =>
            _reader.WholeAudio(Path, RangeStart, RangeEnd - RangeStart, _hasEnd, _reader._data.AudioSampleRate, ct);

        public override float[] Windows(long[] starts, int count, CancellationToken ct)
        {
            int sr = _reader._data.AudioSampleRate;
            var windows = new float[(long)starts.Length * count];
            var pieces = AudioDecoder.DecodeWindows(Path, starts.Select(a => RangeStart + (double)a / sr).ToArray(), count, sr, ct);
            for (int k = 0; k < starts.Length; k++)
                pieces[k].Samples.AsSpan(0, Math.Min(count, pieces[k].Samples.Length)).CopyTo(windows.AsSpan(k * count, count));
            return windows;
        }
    }

    /// <summary>The train or test view of the visual clips and their start times (seconds in the file's clock) of a request.</summary>
    internal (VisualView View, double[] Starts) VisualSetup(string path, MediaInfo info, ClipRequest request, double rangeStart, double rangeEnd, Random? visualRng)
    {
        var v = info.Video ?? throw new MediaError(path, "no video stream");
        double duration = Math.Max(0, Math.Min(rangeEnd, v.DurationSeconds) - rangeStart);
        var starts = request.Positions.Select(r => rangeStart + ClipSampling.VisualStart(r, duration, _data.ClipSeconds)).ToArray();
        var view = request.Mode == SampleMode.Train
            ? _transform.SampleTrain(v.Width, v.Height, visualRng ?? throw new ArgumentNullException(nameof(visualRng)))
            : _transform.Test(v.Width, v.Height, request.SpatialCrop);
        return (view, starts);
    }

    /// <summary>How <see cref="ReadVisual"/> decodes: clip starts (on the prepared frame grid for a prepared video), the first
    /// start, the frames from it that cover every clip at the decode rate, and whether that union is decoded in one run.</summary>
    internal (double[] Starts, double First, int Count, double Fps, int Step, bool OneRun) Union(double[] starts, VisualView view, bool clipRateFile)
    {
        int T = starts.Length, F = _data.NumFrames, step = clipRateFile ? 1 : _data.SamplingRate;
        if (clipRateFile) starts = starts.Select(s => Math.Round(s * ClipFps) / ClipFps).ToArray();
        int frameBytes = view.ScaledWidth * view.ScaledHeight * 3;
        double first = starts.Min(), last = starts.Max();
        double fps = clipRateFile ? ClipFps : _data.TargetFps;
        int span = (F - 1) * step + 1;
        int count = (int)Math.Round((last - first) * fps) + span;
        bool oneRun = (last - first + _data.ClipSeconds <= UnionDecodeMaxSeconds || (last - first) * ClipFps + F <= 1.5 * T * F)
                      && (long)count * frameBytes <= UnionDecodeMaxBytes;
        return (starts, first, count, fps, step, oneRun);
    }

    /// <summary>Decodes the clips starting at <paramref name="starts"/> into <paramref name="dst"/>; returns the start times
    /// of the frames actually used (to within a source frame of the asked ones).</summary>
    /// <remarks>A prepared video holds the frames at the clip rate (TARGET_FPS/SAMPLING_RATE): its clips start on that grid (the
    /// nearest tick, at most half a clip frame from the asked start) and take every frame.</remarks>
    internal double[] ReadVisual(string path, double[] starts, VisualView view, byte[] dst, CancellationToken ct, bool clipRateFile,
                        Func<VideoDecoder.FrameSpan, byte[]?>? decoded)
    {
        int T = starts.Length, F = _data.NumFrames;
        int clipBytes = 3 * F * view.CropSize * view.CropSize;
        int frameBytes = view.ScaledWidth * view.ScaledHeight * 3;
        (starts, double first, int count, double fps, int step, bool oneRun) = Union(starts, view, clipRateFile);
        int span = (F - 1) * step + 1;
        if (oneRun)
        {
            // Clips close together, or a short video: one decode of their union at TARGET_FPS, then each clip takes every
            // SAMPLING_RATE-th frame from its own start (exact to a frame at TARGET_FPS). A seek per clip would start a
            // process and decode from the previous keyframe each time — often the whole file.
            long decodeStart = Stopwatch.GetTimestamp();
            var all = decoded?.Invoke(new VideoDecoder.FrameSpan(path, first, count, fps, view.ScaledWidth, view.ScaledHeight))
                      ?? VideoDecoder.DecodeFrames(path, first, count, fps, view.ScaledWidth, view.ScaledHeight, ct);
            Timings.AddDecode(decodeStart);
            long transformStart = Stopwatch.GetTimestamp();
            var used = new double[T];
            for (int k = 0; k < T; k++)
            {
                int offset = Math.Clamp((int)Math.Round((starts[k] - first) * fps), 0, count - span);
                used[k] = first + offset / fps;
                VisualTransform.Crop(all.AsSpan(offset * frameBytes), F, view, dst.AsSpan(k * clipBytes, clipBytes), step);
            }
            Timings.AddTransform(transformStart);
            return used;
        }
        // Clips spread over a long video: one FFmpeg run that seeks to each group of nearby clips.
        long start = Stopwatch.GetTimestamp();
        var clips = VideoDecoder.DecodeClips(path, starts, F, ClipFps, view.ScaledWidth, view.ScaledHeight, ct);
        Timings.AddDecode(start);
        start = Stopwatch.GetTimestamp();
        for (int k = 0; k < T; k++)
            VisualTransform.Crop(clips[k].Rgb, F, view, dst.AsSpan(k * clipBytes, clipBytes));
        Timings.AddTransform(start);
        return starts;
    }
}
