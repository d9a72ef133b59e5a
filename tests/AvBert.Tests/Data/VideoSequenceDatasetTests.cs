using AvBert.Config;
using AvBert.Data;
using AvBert.Features;
using AvBert.Media;
using AvBert.Data.Sources;

namespace AvBert.Tests.Data;

/// <summary>Small media made once for the class: FFmpeg lavfi sources, no downloads.</summary>
public sealed class DatasetMedia : IDisposable
{
    public string Dir { get; } = TestSetup.TempDir("dataset");
    public string Video { get; }        // 2 s testsrc2 80x60 + 440 Hz tone
    public string Red { get; }          // 1 s solid red, portrait 48x64, with tone
    public string Short { get; }        // 0.1 s: shorter than one clip
    public string Silent { get; }       // video without audio
    public string Wav { get; }          // audio only, 1.5 s
    public string Ramp { get; }         // 3 s grey ramp, frame N has luma 16+2*N (lossless), 30 fps

    public DatasetMedia()
    {
        Video = TestMedia.Make(Dir, "video", new TestMediaSpec { Seconds = 2, Width = 80, Height = 60 });
        Red = TestMedia.Make(Dir, "red", new TestMediaSpec { Seconds = 1, Width = 48, Height = 64, VideoSource = "color=c=red", VideoCodec = "ffv1", Extension = "mkv" });
        Short = TestMedia.Make(Dir, "short", new TestMediaSpec { Seconds = 0.1, Width = 64, Height = 48 });
        Silent = TestMedia.Make(Dir, "silent", new TestMediaSpec { Seconds = 1, Audio = false });
        Wav = TestMedia.Make(Dir, "tone", new TestMediaSpec { Seconds = 1.5, Video = false, Extension = "wav", AudioCodec = null });
        Ramp = Path.Combine(Dir, "ramp.mkv");
        TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", "color=black:s=32x24:r=30:d=3,geq=lum='16+N*2':cb=128:cr=128",
                       "-c:v", "ffv1", "-pix_fmt", "yuv420p", Ramp]);
    }

    public void Dispose() { try { Directory.Delete(Dir, true); } catch (IOException) { } }
}

public class VideoSequenceDatasetTests(DatasetMedia media) : IClassFixture<DatasetMedia>
{
    /// <summary>4 frames at 15 fps (0.267 s clips), 3 clips, 32² crops, 16×16 log-mel.</summary>
    public static readonly DataConfig Tiny = new()
    {
        NumFrames = 4, SamplingRate = 2, TargetFps = 30, SequenceLength = 3,
        TrainCropSize = 32, TestCropSize = 32, TrainJitterScales = [32, 40], AudioFrequency = 16, AudioTime = 16,
    };

    static MediaItem Item(string path, params int[] labels) => new(path, labels);

    [Fact]
    public void Test_samples_have_model_shapes_with_clip_starts_aligned_in_both_streams()
    {
        var ds = new VideoSequenceDataset([Item(media.Video, 4)], Tiny, new SequenceOptions { Mode = SampleMode.Test });
        Assert.Equal(3, ds.Count);                                   // one temporal view × 3 crops
        using var s = ds.Get(1);
        Assert.Equal(new long[] { 3, 3, 4, 32, 32 }, s.Visual!.shape);
        Assert.Equal(new long[] { 3, 1, 16, 16 }, s.Audio!.shape);
        Assert.Equal(new[] { 4 }, s.Labels);
        Assert.Equal(1, s.SpatialCrop);
        double span = Tiny.ClipSeconds;
        Assert.Equal(new[] { 0, (2 - span) / 2, 2 - span }, s.ClipStartSeconds.Select(x => Math.Round(x, 6)).ToArray(), new RoundedEq());
        int w = Tiny.AudioClipSamples;
        Assert.Equal(0, s.AudioClipStarts[0]);
        int n = AudioDecoder.Decode(media.Video, 0, null, 44100).Length;          // AAC pads to whole frames: a bit over 2 s
        Assert.Equal(n - w, s.AudioClipStarts[2]);
        Assert.Equal((long)Math.Floor(0.5 * (n - w)), s.AudioClipStarts[1]);
        Assert.InRange(s.AudioClipStarts[1] - s.ClipStartSeconds[1] * 44100, -1, (n - 88200) / 2 + 1);
        Assert.False(s.Visual.isnan().any().item<bool>());
        Assert.False(s.Audio.isnan().any().item<bool>());
    }

    sealed class RoundedEq : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-5;
        public int GetHashCode(double d) => 0;
    }

    [Fact]
    public void Frames_are_rgb_normalised_and_test_crops_run_top_centre_bottom_on_portrait_video()
    {
        var ds = new VideoSequenceDataset([Item(media.Red)], Tiny with { SequenceLength = 1 },
                                          new SequenceOptions { Mode = SampleMode.Test, Modalities = Modalities.Visual });
        using var s = ds.Get(0);
        var mean = s.Visual!.mean([0, 2, 3, 4]).data<float>().ToArray();   // per channel
        Assert.Equal((1 - 0.45) / 0.225, mean[0], 1);                       // red ≈ 255
        Assert.Equal((0 - 0.45) / 0.225, mean[1], 1);
        Assert.Equal((0 - 0.45) / 0.225, mean[2], 1);
        Assert.Null(s.Audio);
        var views = Enumerable.Range(0, 3).Select(i => ds.Reader.Read(media.Red, new ClipRequest([0.5], SampleMode.Test, i), null, null, default).View!).ToArray();
        Assert.Equal(new[] { 0, 5, 10 }, views.Select(v => v.CropY));       // 48x64 -> 32x42
        Assert.All(views, v => Assert.Equal(0, v.CropX));
    }

    [Fact]
    public void Clip_frames_are_the_source_frames_at_the_clip_times_whether_decoded_together_or_apart()
    {
        var data = Tiny with { TrainCropSize = 24, TestCropSize = 24, TrainJitterScales = [24, 24] };
        var reader = new ClipReader(data, Modalities.Visual);
        // 3 s at 30 fps, 0.267 s clips at 15 fps. Dense: 3 clips over 3 s (one decode); sparse: clips at the ends only.
        var dense = reader.Read(media.Ramp, new ClipRequest([0, 0.5, 1], SampleMode.Test), null, null, default);
        var seeking = new ClipReader(data, Modalities.Visual) { UnionDecodeMaxSeconds = 0 };
        var sparse = seeking.Read(media.Ramp, new ClipRequest([0, 1], SampleMode.Test), null, null, default);
        int[] FrameIndices(ClipData c, int clip) => Enumerable.Range(0, 4).Select(f =>
        {
            float v = c.ModelVisual()![((clip * 3 + 0) * 4 + f) * 24 * 24];         // R of pixel (0,0)
            double level = (v * 0.225 + 0.45) * 255;                               // back to 0..255
            return (int)Math.Round(level / (2 * 255.0 / 219));                       // limited-range luma 16+2N -> N
        }).ToArray();
        Assert.Equal(new[] { 0, 2, 4, 6 }, FrameIndices(dense, 0));
        Assert.Equal(new[] { 41, 43, 45, 47 }, FrameIndices(dense, 1));            // start (3 − 0.267)/2 = 1.367 s
        Assert.Equal(new[] { 82, 84, 86, 88 }, FrameIndices(dense, 2));            // start 2.733 s
        Assert.Equal(FrameIndices(dense, 2), FrameIndices(sparse, 1));
    }

    [Fact]
    public void Train_augmentation_is_reproducible_from_the_seed_and_shared_by_all_clips()
    {
        var ds = new VideoSequenceDataset([Item(media.Video)], Tiny, new SequenceOptions { Mode = SampleMode.Train });
        Assert.Equal(1, ds.Count);
        var a = ds.Load(0, seed: 3, epoch: 0, default);
        var b = ds.Load(0, seed: 3, epoch: 0, default);
        Assert.Equal(a.Visual, b.Visual);
        Assert.Equal(a.Audio, b.Audio);
        var others = Enumerable.Range(1, 3).Select(e => ds.Load(0, 3, e, default)).ToList();
        Assert.Contains(others, o => !o.Visual!.SequenceEqual(a.Visual!));

        // The masks zero the same bins in every clip of the sequence.
        var reader = new ClipReader(Tiny with { FrequencyMaskRate = 0.25, TimeMaskRate = 0.25 }, Modalities.Audio);
        var c = reader.Read(media.Video, new ClipRequest([0, 0.5, 1], SampleMode.Train), null, new Random(5), default);
        var m = c.Masks!;
        Assert.True(m.FrequencyWidth > 0 || m.TimeWidth > 0);
        int plane = 16 * 16;
        for (int f = 0; f < 16; f++) for (int t = 0; t < 16; t++)
        {
            bool masked = m.MasksFrequency(f) || m.MasksTime(t);
            for (int k = 0; k < 3; k++)
                if (masked) Assert.Equal(0f, c.Audio![k * plane + f * 16 + t]);
        }
    }

    [Fact]
    public void A_video_shorter_than_one_clip_gives_full_clips_from_the_start_with_padded_audio()
    {
        var ds = new VideoSequenceDataset([Item(media.Short)], Tiny, new SequenceOptions { Mode = SampleMode.Test, SpatialCrops = 1 });
        using var s = ds.Get(0);
        Assert.Equal(new long[] { 3, 3, 4, 32, 32 }, s.Visual!.shape);
        Assert.All(s.ClipStartSeconds, x => Assert.Equal(0, x));
        Assert.All(s.AudioClipStarts, x => Assert.Equal(0, x));
        // 0.1 s of tone then silence: the last log-mel frames are log(1e-6) (silent), not NaN.
        var last = s.Audio![0, 0, .., 15];
        Assert.True((last - (float)Math.Log(1e-6)).abs().max().item<float>() < 1e-3);
        Assert.False(s.Visual.isnan().any().item<bool>());
    }

    [Fact]
    public void A_missing_stream_is_a_media_error_only_when_that_modality_is_needed()
    {
        var both = new VideoSequenceDataset([Item(media.Silent)], Tiny, new SequenceOptions { Mode = SampleMode.Test, SpatialCrops = 1 });
        var e = Assert.Throws<MediaError>(() => both.Load(0, 0, 0, default));
        Assert.Equal("no audio stream", e.Reason);
        var visual = new VideoSequenceDataset([Item(media.Silent)], Tiny, new SequenceOptions { Mode = SampleMode.Test, SpatialCrops = 1, Modalities = Modalities.Visual });
        Assert.NotNull(visual.Load(0, 0, 0, default).Visual);
        var wav = new VideoSequenceDataset([Item(media.Wav)], Tiny, new SequenceOptions { Mode = SampleMode.Test, SpatialCrops = 1 });
        Assert.Equal("no video stream", Assert.Throws<MediaError>(() => wav.Load(0, 0, 0, default)).Reason);
    }

    [Fact]
    public void Audio_only_windows_cover_the_file_as_single_clip_views()
    {
        // ESC-50 style: 1 clip per sample, 4 views per file, 0.5 s windows.
        var ds = new VideoSequenceDataset([Item(media.Wav, 7)], Tiny, new SequenceOptions
        {
            Mode = SampleMode.Test, Modalities = Modalities.Audio, ClipsPerSample = 1, ViewsPerVideo = 4, AudioWindowSeconds = 0.5,
        });
        Assert.Equal(4, ds.Count);
        var starts = Enumerable.Range(0, 4).Select(i => ds.Load(i, 0, 0, default)).Select(c => c.AudioClipStarts.Single()).ToArray();
        long span = 66150 - 22050;
        Assert.Equal(new[] { 0L, span / 3, 2 * span / 3, span }, starts);
        using var s = ds.Get(2);
        Assert.Equal(new long[] { 1, 1, 16, 16 }, s.Audio!.shape);
        Assert.Null(s.Visual);
    }

    [Fact]
    public void Ucf_style_views_are_consecutive_per_video_with_crops_innermost()
    {
        var ds = new VideoSequenceDataset([Item(media.Video), Item(media.Red)], Tiny,
                                          new SequenceOptions { Mode = SampleMode.Test, ClipsPerSample = 1, ViewsPerVideo = 10, Modalities = Modalities.Visual });
        Assert.Equal(60, ds.Count);
        Assert.Equal((0, 0, 0), ds.ViewOf(0));
        Assert.Equal((0, 3, 2), ds.ViewOf(11));
        Assert.Equal((1, 9, 2), ds.ViewOf(59));
        Assert.Equal(media.Red, ds.PathOf(30));
    }

    [Fact]
    public void Long_audio_read_window_by_window_equals_the_whole_track_cut_into_windows()
    {
        var whole = new ClipReader(Tiny, Modalities.Audio);
        var windowed = new ClipReader(Tiny, Modalities.Audio) { WholeAudioSeconds = 0 };
        var request = new ClipRequest([0, 0.4, 1], SampleMode.Test);
        var a = whole.Read(media.Wav, request, null, null, default);
        var b = windowed.Read(media.Wav, request, null, null, default);
        Assert.Equal(a.AudioClipStarts, b.AudioClipStarts);
        Assert.Equal(a.Audio!.Length, b.Audio!.Length);
        Assert.True(a.Audio.Zip(b.Audio).Max(p => Math.Abs(p.First - p.Second)) < 1e-4);
    }
}
