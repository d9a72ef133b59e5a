using AvBert.Config;
using AvBert.Data;
using AvBert.Data.Prepared;
using AvBert.Media;
using AvBert.Runs;
using AvBert.Data.Sources;

namespace AvBert.Tests.Runs;

/// <summary>`avbert prep` and reading its prepared set: a tiny geometry (short side 40, 5-frame clips at 15 fps).</summary>
public sealed class PrepRunTests : IDisposable
{
    /// <summary>5 frames every 2nd at 30 fps: 1/3 s clips, so in a 3 s video the starts of 5 uniform clips (0, 2/3, … 8/3 s)
    /// fall on the 15 fps grid of the cache video and both paths take the very same source frames.</summary>
    static readonly DataConfig Tiny = new()
    {
        NumFrames = 5, SamplingRate = 2, TargetFps = 30, SequenceLength = 5,
        TrainCropSize = 32, TestCropSize = 32, TrainJitterScales = [32, 40], TestSpatialCrops = 1, AudioFrequency = 16, AudioTime = 16,
    };

    readonly string _dir = TestSetup.TempDir("cache");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    PrepSummary Prep(string data, string output, StringWriter? log = null, CancellationToken ct = default, Action<PrepProgress>? progress = null,
                     string device = "cpu", DataConfig? config = null, PreparedFrames frames = PreparedFrames.H264) =>
        PrepRun.Run(new PrepOptions
        {
            Data = data, Out = output, DataConfig = config ?? Tiny, Workers = 1, Log = log ?? new StringWriter(), OnProgress = progress, Device = device,
            Frames = frames,
        }, ct);

    [Fact]
    public void Prep_of_a_mixed_set_indexes_every_readable_file_with_its_class_and_lists_the_corrupt_one()
    {
        var src = Path.Combine(_dir, "src");
        var a = Path.Combine(src, "a");
        var b = Path.Combine(src, "b");
        var mp4 = TestMedia.Make(a, "plain", new TestMediaSpec { Seconds = 1 });
        var mkv = TestMedia.Make(a, "odd", new TestMediaSpec { Seconds = 1, Width = 81, Height = 61, VideoSource = "testsrc", VideoCodec = "ffv1", Extension = "mkv", AudioCodec = "flac", ExtraOutputArgs = ["-pix_fmt", "yuv444p"] });
        var webm = TestMedia.Make(a, "web", new TestMediaSpec { Seconds = 1, Width = 64, Height = 96, VideoCodec = "libvpx", Extension = "webm", AudioCodec = "libopus", SampleRate = 48000 });
        var avi = TestMedia.Make(b, "old", new TestMediaSpec { Seconds = 1, Extension = "avi", AudioCodec = "pcm_s16le", Channels = 2 });
        var vfr = TestMedia.Make(b, "vfr", new TestMediaSpec { Seconds = 1, ExtraOutputArgs = ["-vf", "select='not(mod(n\\,3))+eq(n\\,4)'", "-vsync", "vfr"] });
        var wav = TestMedia.Make(b, "sound", new TestMediaSpec { Seconds = 1, Video = false, Extension = "wav", AudioCodec = null });
        var mute = TestMedia.Make(b, "mute", new TestMediaSpec { Seconds = 1, Audio = false });
        var corrupt = Path.Combine(b, "broken.mp4");
        File.WriteAllBytes(corrupt, Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray());

        var log = new StringWriter();
        var cache = Path.Combine(_dir, "cache");
        var summary = Prep("classes:" + src, cache, log, device: "cuda");

        Assert.Equal(7, summary.Prepared);
        Assert.Equal(1, summary.Skipped);
        var skippedRows = File.ReadAllLines(Path.Combine(cache, "skipped.tsv")).Skip(1).ToArray();
        Assert.Single(skippedRows);
        Assert.StartsWith(corrupt + "\t", skippedRows[0]);
        // No GPU here: the CUDA request falls back to the CPU with one warning (on a GPU machine it is used and prep still succeeds).
        if (FfmpegHardware.DetectCuda().Cuda == FfmpegCuda.None) Assert.Contains("on the CPU instead", log.ToString());

        var entries = PreparedIndex.ReadEntries(cache).Values.ToDictionary(e => Path.GetFileName(e.Source));
        Assert.Equal(7, entries.Count);
        Assert.Equal([0], entries["plain.mp4"].Labels);
        Assert.Equal([1], entries["old.avi"].Labels);
        Assert.Null(entries["sound.wav"].VideoFile);
        Assert.NotNull(entries["sound.wav"].AudioFile);
        Assert.Null(entries["mute.mp4"].AudioFile);
        Assert.Equal((81, 61), (entries["odd.mkv"].Video!.Width, entries["odd.mkv"].Video!.Height));   // the source's size, for the views
        foreach (var e in entries.Values.Where(e => e.VideoFile is not null))
        {
            var info = MediaProbe.Probe(Path.Combine(cache, e.VideoFile!));
            Assert.Equal(Math.Min(40, Math.Min(e.Video!.Width, e.Video.Height)) & ~1, Math.Min(info.Video!.Width, info.Video.Height));
            Assert.InRange(info.Video.Fps, 14.9, 15.1);   // the clip frame rate, also for the variable-rate source
        }
        // The prepared set is a source: every split, labels and class names as prepared, and nothing probed or missing.
        var opened = SourceLoader.Open(cache, "train");
        Assert.Equal(7, opened.Items.Count);
        Assert.Equal(["a", "b"], opened.ClassNames);
        Assert.All(opened.Items, i => Assert.NotNull(i.Prepared));
        // prepared:DIR names it; cache:DIR, its old name (older scripts and saved configs), reads the same items.
        Assert.True(PreparedSource.IsSpec("cache:" + cache));
        foreach (var split in new[] { "train", "all" })
        {
            var named = SourceLoader.Open("prepared:" + cache, split).Items;
            var old = SourceLoader.Open("cache:" + cache, split).Items;
            Assert.Equal(named.Select(i => (i.Path, i.Start, i.End, i.Labels[0])), old.Select(i => (i.Path, i.Start, i.End, i.Labels[0])));
            Assert.All(old, i => Assert.NotNull(i.Prepared));
        }
    }

    [Fact]
    public void Cache_reads_give_the_source_clips_frames_within_codec_tolerance_and_the_exact_audio_windows()
    {
        var src = Path.Combine(_dir, "one");
        // Frame N of the source is flat grey 16 + 2N: a clip's frames say which source frames it holds, through any codec.
        Directory.CreateDirectory(src);
        var video = Path.Combine(src, "ramp.mp4");
        TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", "color=black:s=96x72:r=30:d=3,geq=lum='16+N*2':cb=128:cr=128",
                       "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                       "-c:a", "aac", "-ac", "2", "-shortest", video]);
        // The whole file, and a Kinetics row over the untrimmed video: the segment 1 s .. 2.667 s (clip starts again on the grid).
        var csv = Path.Combine(_dir, "k.csv");
        File.WriteAllText(csv, "label,youtube_id,time_start,time_end,split\nx,ramp,1,2.6666666666666667,train\n");
        foreach (var (spec, mode) in new[] { (src, SampleMode.Test), (src, SampleMode.Train), ($"kinetics:{csv},videos={src}", SampleMode.Train) })
        {
            var cache = Path.Combine(_dir, "c" + spec.Length);
            if (!PreparedIndex.IsPrepared(cache)) Prep(spec, cache);
            var fromSource = SourceLoader.Open(spec);
            var fromCache = SourceLoader.Open("prepared:" + cache);
            var options = SequenceOptions.Sequences(mode);
            var s = new VideoSequenceDataset(fromSource, Tiny, options).Load(0, seed: 5, epoch: 1, default);
            long before = FfmpegProcess.StartedOnThisThread;
            var c = new VideoSequenceDataset(fromCache, Tiny, options).Load(0, seed: 5, epoch: 1, default);
            Assert.Equal(1, FfmpegProcess.StartedOnThisThread - before);          // one FFmpeg run for the video, none for probe or audio

            Assert.Equal(video, c.Path);
            Assert.Equal(s.AudioClipStarts, c.AudioClipStarts);
            Assert.Equal(s.Audio, c.Audio);                                  // same samples, same masks: bit for bit
            for (int k = 0; k < 5; k++) Assert.Equal(s.ClipStartSeconds[k], c.ClipStartSeconds[k], 1e-9);
            Assert.Equal(s.VisualShape, c.VisualShape);
            Assert.Equal(s.VisualFlip, c.VisualFlip);
            var sv = s.Pixels!.ToModelArray(s.Visual!, s.VisualShape, s.VisualFlip);      // model input, as the step sees it
            var cv = c.Pixels!.ToModelArray(c.Visual!, c.VisualShape, c.VisualFlip);
            int clip = sv.Length / 5;
            double Diff(int ks, int kc) => Enumerable.Range(0, clip).Average(i => Math.Abs(sv[ks * clip + i] - cv[kc * clip + i]));
            for (int k = 0; k < 5; k++)
            {
                double same = Diff(k, k);
                // One source frame later would be 2 grey levels = 0.035 here: the clips hold the same frames, up to codec rounding.
                Assert.True(same < 0.02, $"{spec} {mode} clip {k}: mean |source - cache| {same:0.000} (normalised units)");
            }
        }
    }

    [Fact]
    public void Raw_frames_give_the_source_clips_bytes_at_the_stored_scale_and_close_ones_at_other_scales_without_any_ffmpeg_run()
    {
        var src = Path.Combine(_dir, "raw");
        Directory.CreateDirectory(src);
        var video = Path.Combine(src, "ramp.mp4");   // frame N flat grey 16 + 2N, as above
        TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", "color=black:s=96x72:r=30:d=3,geq=lum='16+N*2':cb=128:cr=128",
                       "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                       "-c:a", "aac", "-ac", "2", "-shortest", video]);
        // Training scales to short side 40 = the stored one (53×40: the sources path's size, not H.264's even 54×40); tests to 32.
        var config = Tiny with { TrainJitterScales = [40, 40] };
        var cache = Path.Combine(_dir, "raw-cache");
        Prep(src, cache, config: config, frames: PreparedFrames.Raw);
        Assert.True(FrameFile.Is(PreparedIndex.ReadEntries(cache).Values.Single().VideoFile!));
        foreach (var mode in new[] { SampleMode.Train, SampleMode.Test })
        {
            var options = SequenceOptions.Sequences(mode);
            var s = new VideoSequenceDataset(SourceLoader.Open(src), config, options).Load(0, seed: 5, epoch: 1, default);
            long before = FfmpegProcess.StartedOnThisThread;
            var c = new VideoSequenceDataset(SourceLoader.Open("prepared:" + cache), config, options).Load(0, seed: 5, epoch: 1, default);
            Assert.Equal(0, FfmpegProcess.StartedOnThisThread - before);          // no process for video, audio or probe
            Assert.Equal(s.ClipStartSeconds, c.ClipStartSeconds);
            Assert.Equal(s.Audio, c.Audio);
            if (mode == SampleMode.Train)
            {
                Assert.Equal(s.Visual, c.Visual);                                 // the very bytes FFmpeg gives the sources path
                continue;
            }
            // 40 → 32 by our resampler instead of FFmpeg's: within a grey level or two, far from a frame off (2.3 levels
            // everywhere, ≥ 0.04 in normalised units).
            var sv = s.Pixels!.ToModelArray(s.Visual!, s.VisualShape, s.VisualFlip);
            var cv = c.Pixels!.ToModelArray(c.Visual!, c.VisualShape, c.VisualFlip);
            double diff = Enumerable.Range(0, sv.Length).Average(i => Math.Abs(sv[i] - cv[i]));
            Assert.True(diff < 0.03, $"mean |source - raw cache| {diff:0.000} (normalised units)");
        }
    }

    [Fact]
    public void Cached_samples_loaded_together_share_one_ffmpeg_run_and_equal_the_samples_loaded_alone()
    {
        var src = Path.Combine(_dir, "group");
        for (int i = 0; i < 3; i++)
            TestMedia.Make(src, $"v{i}", new TestMediaSpec { Seconds = 1, Width = 64 + 16 * i, Height = 48 });
        var cache = Path.Combine(_dir, "group-cache");
        Prep(src, cache);
        var ds = new VideoSequenceDataset(SourceLoader.Open("prepared:" + cache), Tiny, SequenceOptions.Sequences(SampleMode.Train));
        Assert.Equal(VideoSequenceDataset.PreparedGroupSize, ds.GroupSize);
        var alone = Enumerable.Range(0, 3).Select(i => ds.Load(i, seed: 5, epoch: 2, default)).ToList();
        long before = FfmpegProcess.StartedOnThisThread;
        var together = ds.LoadGroup([0, 1, 2], seed: 5, epoch: 2, default);
        Assert.Equal(1, FfmpegProcess.StartedOnThisThread - before);          // one FFmpeg run for three samples' video
        for (int i = 0; i < 3; i++)
        {
            Assert.Null(together[i].Error);
            var s = together[i].Sample!;
            Assert.Equal(alone[i].Visual, s.Visual);                            // the very same bytes
            Assert.Equal(alone[i].VisualFlip, s.VisualFlip);
            Assert.Equal(alone[i].Audio, s.Audio);
            Assert.Equal(alone[i].ClipStartSeconds, s.ClipStartSeconds);
        }
        // A damaged entry fails as it does alone; the others are still loaded, and equal.
        var damaged = ((PreparedMedia)ds.Items[1].Prepared!).VideoPath!;
        File.Delete(damaged);
        var again = ds.LoadGroup([0, 1, 2], seed: 5, epoch: 2, default);
        Assert.IsAssignableFrom<MediaError>(again[1].Error);
        Assert.Equal(alone[0].Visual, again[0].Sample!.Visual);
        Assert.Equal(alone[2].Visual, again[2].Sample!.Visual);
    }

    [Fact]
    public void An_interrupted_prep_continues_where_it_stopped_and_never_redoes_a_finished_item()
    {
        var src = Path.Combine(_dir, "many");
        for (int i = 0; i < 4; i++) TestMedia.Make(src, $"v{i}", new TestMediaSpec { Seconds = 0.5, Width = 48, Height = 32, ToneHz = 300 + 100 * i });
        var cache = Path.Combine(_dir, "resumed");
        using (var cts = new CancellationTokenSource())
        {
            Assert.ThrowsAny<OperationCanceledException>(() =>
                Prep(src, cache, ct: cts.Token, progress: p => { if (p.PreparedNow >= 2) cts.Cancel(); }));
        }
        var first = PreparedIndex.ReadEntries(cache);
        Assert.InRange(first.Count, 2, 3);
        var written = first.Values.ToDictionary(e => e.Id, e => File.GetLastWriteTimeUtc(Path.Combine(cache, e.VideoFile!)));
        Assert.DoesNotContain(Directory.EnumerateFiles(cache, "*", SearchOption.AllDirectories), f => Path.GetFileName(f).Contains(".tmp"));
        // What a prep killed by SIGKILL mid-write leaves (its process gone): the next prep removes it.
        var media = Directory.EnumerateDirectories(Path.Combine(cache, PreparedIndex.MediaFolder)).First();
        var leftover = Path.Combine(media, ".v9.tmp-99999999-0123abcd.rgb");
        File.WriteAllText(leftover, "half a frame");

        var again = Prep(src, cache);
        Assert.False(File.Exists(leftover), "a killed prep's temporary file was left behind");
        Assert.Equal(first.Count, again.AlreadyPrepared);
        Assert.Equal(4 - first.Count, again.Prepared);
        foreach (var (id, time) in written)
            Assert.Equal(time, File.GetLastWriteTimeUtc(Path.Combine(cache, PreparedIndex.ReadEntries(cache)[id].VideoFile!)));
        Assert.Equal(4, SourceLoader.Open(cache).Items.Count);
    }

    [Fact]
    public void Changed_sources_other_settings_and_damaged_entries_are_clear_messages_not_crashes()
    {
        var src = Path.Combine(_dir, "stale");
        var video = TestMedia.Make(src, "v", new TestMediaSpec { Seconds = 1, Width = 48, Height = 32 });
        var cache = Path.Combine(_dir, "sc");
        Prep(src, cache);

        // Other settings: training with another frame rate, or prepping the same folder for another geometry.
        var other = Tiny with { TargetFps = 25 };
        var e1 = Assert.Throws<PreparedError>(() => new VideoSequenceDataset(SourceLoader.Open(cache), other));
        Assert.Contains("avbert prep", e1.Message);
        Assert.Contains("target_fps 25", e1.Message);
        Assert.Throws<PreparedError>(() => Prep(src, cache, config: Tiny with { TrainJitterScales = [32, 64] }));

        // A changed source: an error at training time saying how to update; prep then prepares it again.
        File.SetLastWriteTimeUtc(video, DateTime.UtcNow.AddMinutes(5));
        var e2 = Assert.Throws<PreparedError>(() => SourceLoader.Open(cache));
        Assert.Contains("changed since", e2.Message);
        Assert.Contains($"avbert prep --data {src} --out {cache}", e2.Message);
        var redo = Prep(src, cache);
        Assert.Equal((1, 0), (redo.Prepared, redo.AlreadyPrepared));

        // A damaged entry: the item fails with a message naming the repair (the loader skips and lists it).
        var entry = PreparedIndex.ReadEntries(cache).Values.Single();
        var wave = Path.Combine(cache, entry.AudioFile!);
        File.WriteAllBytes(wave, File.ReadAllBytes(wave)[..40]);
        var ds = new VideoSequenceDataset(SourceLoader.Open(cache), Tiny, SequenceOptions.Sequences(SampleMode.Test));
        var e3 = Assert.Throws<MediaError>(() => ds.Load(0, 0, 0, default));
        Assert.Contains("prepared entry damaged", e3.Message);
        var skipped = new List<string>();
        var loader = new BatchLoader(ds, new LoaderOptions { BatchSize = 1, Workers = 1 }, (p, r) => skipped.Add(r));
        try { foreach (var batch in loader.Epoch(0)) batch.Dispose(); }
        catch (AvBert.Runtime.UserError) { /* every sample of the epoch failed: the run stops with the first reason */ }
        Assert.Contains("prepared entry damaged", Assert.Single(skipped));
    }

    [Fact]
    public void Auto_keeps_short_small_videos_as_raw_frames_and_the_rest_as_h264_and_a_damaged_raw_entry_is_skipped_with_its_repair()
    {
        var auto = new PreparedSettings { Frames = PreparedFrames.Auto };
        Assert.True(auto.KeepsRaw(PreparedSettings.RawAutoMaxBytes));
        Assert.False(auto.KeepsRaw(PreparedSettings.RawAutoMaxBytes + 1));
        Assert.True((auto with { Frames = PreparedFrames.Raw }).KeepsRaw(PreparedSettings.RawAutoMaxBytes * 8));
        Assert.False((auto with { Frames = PreparedFrames.Raw }).KeepsRaw(MediaOptions.MaxFrameBytes + 1));   // never more than one decode holds
        Assert.False((auto with { Frames = PreparedFrames.H264 }).KeepsRaw(1));

        var src = Path.Combine(_dir, "auto");
        TestMedia.Make(src, "short", new TestMediaSpec { Seconds = 1, Width = 64, Height = 48 });
        var cache = Path.Combine(_dir, "auto-cache");
        Prep(src, cache, frames: PreparedFrames.Auto);
        var entry = PreparedIndex.ReadEntries(cache).Values.Single();
        Assert.True(FrameFile.Is(entry.VideoFile!));
        Assert.Equal(PreparedFrames.Auto, PreparedIndex.ReadHeader(cache).Settings.Frames);
        // 1 s at the clip rate (15 fps), stored at short side 40 of 64×48 (aspect kept): 15 frames of 53×40 RGB.
        var (w, h) = new PreparedSettings { ShortSide = 40 }.RawSize(64, 48);
        Assert.Equal((53, 40), (w, h));
        Assert.Equal(15L * 3 * w * h, new FileInfo(Path.Combine(cache, entry.VideoFile!)).Length);

        var ds = new VideoSequenceDataset(SourceLoader.Open(cache), Tiny, SequenceOptions.Sequences(SampleMode.Train));
        Assert.Equal((w, h), ((PreparedMedia)ds.Items[0].Prepared!).RawFrameSize);
        var file = Path.Combine(cache, entry.VideoFile!);
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..100]);                     // torn: not a whole frame
        var e = Assert.Throws<MediaError>(() => ds.Load(0, 0, 0, default));
        Assert.Contains("prepared entry damaged", e.Message);
        Assert.Contains("avbert prep", e.Message);
        File.Delete(file);
        Assert.Contains("missing", Assert.Throws<MediaError>(() => ds.Load(0, 0, 0, default)).Message);
    }
}
