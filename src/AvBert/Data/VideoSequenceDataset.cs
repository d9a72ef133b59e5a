using AvBert.Config;
using AvBert.Data.Sources;

namespace AvBert.Data;

/// <summary>How a <see cref="VideoSequenceDataset"/> cuts its videos into samples.</summary>
public sealed record SequenceOptions
{
    public SampleMode Mode { get; init; } = SampleMode.Train;
    public Modalities Modalities { get; init; } = Modalities.AudioVisual;
    /// <summary>Clips per sample (T); null = data.sequence_length. 1 for single-clip tasks (UCF101, ESC-50).</summary>
    public int? ClipsPerSample { get; init; }
    /// <summary>Temporal views per video (K): 1 for sequences; the reference uses 10 single-clip views for UCF101 and ESC-50.
    /// The K·T clip positions of a video are spread uniformly over it.</summary>
    public int ViewsPerVideo { get; init; } = 1;
    /// <summary>Test-mode spatial crops per temporal view; null = data.test_spatial_crops. Ignored in train mode and without video.</summary>
    public int? SpatialCrops { get; init; }
    /// <summary>Audio window length; null = aligned with the visual clip (data.AudioClipSamples). ESC-50: 2 s.</summary>
    public double? AudioWindowSeconds { get; init; }

    /// <summary>Pretraining (and Kinetics-Sounds): sequences of T clips, both streams, one view per video (test: × crops).</summary>
    public static SequenceOptions Sequences(SampleMode mode) => new() { Mode = mode };
    /// <summary>UCF101 as the reference: visual only, single clips, 10 temporal views per video (test: 10 × 3 crops = 30).</summary>
    public static SequenceOptions Ucf101(SampleMode mode, int views = 10) =>
        new() { Mode = mode, Modalities = Modalities.Visual, ClipsPerSample = 1, ViewsPerVideo = views };
    /// <summary>ESC-50 as the reference: audio only, single 2 s windows, 10 per file.</summary>
    public static SequenceOptions Esc50(SampleMode mode, int views = 10, double windowSeconds = 2) =>
        new() { Mode = mode, Modalities = Modalities.Audio, ClipsPerSample = 1, ViewsPerVideo = views, AudioWindowSeconds = windowSeconds };
}

/// <summary>
/// The media dataset (SPEC §4): each sample is one view of one video — T clips at uniform positions, visual
/// [T, 3, F, S, S] and/or audio [T, 1, FREQ, TIME] — with the video's labels.
/// <list type="bullet">
/// <item>Train: K temporal views per video (positions uniform, as in the reference), each with its own random scale
/// jitter/crop/flip and spectrogram masks, shared by its T clips and drawn from (seed, epoch, index).</item>
/// <item>Test: K temporal views × the spatial crops, deterministic; sample index = (video·K + view)·crops + crop, so
/// the views of a video are consecutive and <see cref="VideoBatch.ItemIndices"/> groups them for aggregation.</item>
/// </list>
/// Examples: pretraining/Kinetics-Sounds = T = 10, K = 1; UCF101 = T = 1, K = 10 (test 10 × 3 = 30 views);
/// ESC-50 = audio only, T = 1, K = 10, 2 s windows.
/// </summary>
public sealed class VideoSequenceDataset : IGroupedClipDataset
{
    readonly ClipReader _reader;

    public IReadOnlyList<MediaItem> Items { get; }
    public DataConfig Data { get; }
    public SequenceOptions Options { get; }
    public int ClipsPerSample { get; }
    public int ViewsPerVideo { get; }
    /// <summary>Spatial crops per temporal view: 1 in train mode.</summary>
    public int SpatialCrops { get; }
    public int ViewsPerItem => ViewsPerVideo * SpatialCrops;
    public int Count => Items.Count * ViewsPerItem;
    public ClipReader Reader => _reader;

    public VideoSequenceDataset(IReadOnlyList<MediaItem> items, DataConfig data, SequenceOptions? options = null)
    {
        options ??= new SequenceOptions();
        items.Select(i => i.Prepared).FirstOrDefault(p => p is not null)?.CheckFits(data);
        Items = items;
        Data = data;
        Options = options;
        ClipsPerSample = options.ClipsPerSample ?? data.SequenceLength;
        ViewsPerVideo = options.ViewsPerVideo;
        SpatialCrops = options.Mode == SampleMode.Test && options.Modalities.HasFlag(Modalities.Visual) ? options.SpatialCrops ?? data.TestSpatialCrops : 1;
        if (ClipsPerSample < 1 || ViewsPerVideo < 1 || SpatialCrops < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"clips {ClipsPerSample}, views {ViewsPerVideo}, crops {SpatialCrops}: each must be >= 1");
        int? window = options.AudioWindowSeconds is { } s ? (int)Math.Round(s * data.AudioSampleRate) : null;
        var testData = options.Mode == SampleMode.Test ? data with { TestSpatialCrops = SpatialCrops } : data;
        _reader = new ClipReader(testData, options.Modalities, window);
    }

    public VideoSequenceDataset(MediaSource source, DataConfig data, SequenceOptions? options = null) : this(source.Items, data, options) { }

    /// <summary>(item, temporal view, spatial crop or −1) of sample <paramref name="index"/>.</summary>
    public (int Item, int View, int Crop) ViewOf(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"dataset has {Count} samples");
        int item = index / ViewsPerItem, rest = index % ViewsPerItem;
        return (item, rest / SpatialCrops, Options.Mode == SampleMode.Test ? rest % SpatialCrops : -1);
    }

    public string PathOf(int index) => Items[ViewOf(index).Item].Path;

    /// <summary>Samples of a prepared set decoded per FFmpeg run (<see cref="IGroupedClipDataset"/>): the process start (about
    /// 0.1 s of CPU for Debian's FFmpeg, which loads a hundred shared libraries) is shared; more adds little and holds more
    /// samples in flight.</summary>
    public const int PreparedGroupSize = 4;

    /// <summary><see cref="PreparedGroupSize"/> when the samples' video comes from a prepared set, else 1 (a source video is
    /// decoded by its own FFmpeg run, which may seek several times).</summary>
    public int GroupSize => Options.Modalities.HasFlag(Modalities.Visual) && Items.Any(i => i.Prepared?.HasVideo == true) ? PreparedGroupSize : 1;

    (MediaItem Item, int ItemIndex, int Crop, ClipRequest Request) RequestOf(int index)
    {
        var (itemIndex, view, crop) = ViewOf(index);
        var item = Items[itemIndex];
        var request = new ClipRequest(Features.ClipSampling.ViewPositions(view, ViewsPerVideo, ClipsPerSample), Options.Mode, Math.Max(crop, 0))
        {
            RangeStart = item.Start,
            RangeEnd = item.End,
        };
        return (item, itemIndex, crop, request);
    }

    Random? VisualRng(int seed, int epoch, int index) => Options.Mode == SampleMode.Train ? new Random(Seeds.Mix(seed, epoch, index, 11)) : null;

    public ClipSequence Load(int index, int seed, int epoch, CancellationToken ct) => Load(index, seed, epoch, ct, null);

    public (ClipSequence? Sample, Exception? Error)[] LoadGroup(IReadOnlyList<int> indices, int seed, int epoch, CancellationToken ct)
    {
        // The video spans of the prepared samples, decoded in one FFmpeg run; each sample then loads as alone, taking its frames
        // from that run (a span that did not come out is decoded by the sample itself, which pads or reports the error).
        var spans = new List<Media.VideoDecoder.FrameSpan>();
        foreach (int index in indices)
        {
            var (item, _, _, request) = RequestOf(index);
            if (item.Prepared is not IPreparedItem prepared) continue;
            try { if (prepared.VisualSpan(_reader, request, VisualRng(seed, epoch, index)) is { } span) spans.Add(span); }
            catch (Media.MediaError) { }   // its own load reports it
        }
        var frames = new Dictionary<Media.VideoDecoder.FrameSpan, byte[]>();
        if (spans.Count > 1)
        {
            var distinct = spans.Distinct().ToList();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            var decoded = Media.VideoDecoder.DecodeMany(distinct, ct);
            _reader.Timings.AddDecode(start);
            for (int i = 0; i < distinct.Count; i++) if (decoded[i] is { } rgb) frames[distinct[i]] = rgb;
        }
        var result = new (ClipSequence?, Exception?)[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            try { result[i] = (Load(indices[i], seed, epoch, ct, span => frames.GetValueOrDefault(span)), null); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (Exception e) { result[i] = (null, e); }
        }
        return result;
    }

    ClipSequence Load(int index, int seed, int epoch, CancellationToken ct, Func<Media.VideoDecoder.FrameSpan, byte[]?>? decoded)
    {
        var (item, itemIndex, crop, request) = RequestOf(index);
        var train = Options.Mode == SampleMode.Train;
        Random? visualRng = VisualRng(seed, epoch, index), audioRng = train ? new Random(Seeds.Mix(seed, epoch, index, 12)) : null;
        var clips = item.Prepared is IPreparedItem prepared
            ? prepared.Read(_reader, request, visualRng, audioRng, ct, decoded)
            : _reader.Read(item.Path, request, visualRng, audioRng, ct, decoded);
        return new ClipSequence
        {
            Index = index,
            ItemIndex = itemIndex,
            Path = item.Path,
            Labels = item.Labels,
            SpatialCrop = crop,
            Visual = clips.Visual,
            VisualShape = clips.VisualShape,
            VisualFlip = clips.View?.Flip == true,
            Pixels = clips.Pixels,
            Audio = clips.Audio,
            AudioShape = clips.AudioShape,
            ClipStartSeconds = clips.ClipStartSeconds,
            AudioClipStarts = clips.AudioClipStarts.Select(a => a + (long)Math.Round(clips.RangeStart * Data.AudioSampleRate)).ToArray(),
        };
    }

    /// <summary>One sample as tensors (the caller disposes it).</summary>
    public VideoSample Get(int index, int seed = 0, int epoch = 0, CancellationToken ct = default) => Load(index, seed, epoch, ct).ToSample();
}
