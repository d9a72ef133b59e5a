using AvBert.Media;

namespace AvBert.Tests.Media;

/// <summary>A 4 s, 30 fps grey ramp whose frame N has luma 16+2.5N (lossless), to read back which source frame we got.</summary>
public sealed class RampVideo : IDisposable
{
    public string Dir { get; } = TestSetup.TempDir("ramp");
    public string Path { get; }
    /// <summary>The same frames as lossless H.264 with B-frames in MP4 (time base 1/15360, not milliseconds).</summary>
    public string Mp4 { get; }

    public RampVideo()
    {
        Path = System.IO.Path.Combine(Dir, "ramp.mkv");
        TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", "color=black:s=32x24:r=30:d=2.5,geq=lum='16+N*2.5':cb=128:cr=128",
                       "-c:v", "ffv1", "-pix_fmt", "yuv420p", Path]);
        Mp4 = System.IO.Path.Combine(Dir, "ramp.mp4");
        TestMedia.Run(["-y", "-v", "error", "-i", Path, "-c:v", "libx264", "-qp", "0", "-bf", "2", "-g", "12", "-pix_fmt", "yuv420p", Mp4]);
    }

    /// <summary>Grey level of each source frame after our RGB conversion (all 75 frames decoded at the native rate, 8×8).</summary>
    byte[]? _levels;

    /// <summary>Source frame index of a decoded RGB frame: the frame whose grey level is nearest.</summary>
    public int FrameIndex(ReadOnlySpan<byte> rgb)
    {
        _levels ??= VideoDecoder.DecodeFrames(Path, 0, 75, 30, 8, 8).Where((_, i) => i % (8 * 8 * 3) == 0).ToArray();
        int v = rgb[0];
        return Enumerable.Range(0, _levels.Length).MinBy(i => Math.Abs(_levels[i] - v));
    }

    public void Dispose() => Directory.Delete(Dir, true);
}

public class VideoDecoderTests(RampVideo ramp) : IClassFixture<RampVideo>
{
    [Fact]
    public void Decodes_exactly_count_frames_of_the_asked_size_as_rgb()
    {
        var f = VideoDecoder.Decode(ramp.Path, 0.2, count: 5, fps: 15, width: 10, height: 6);
        Assert.Equal(5 * 6 * 10 * 3, f.Rgb.Length);
        Assert.Equal(5, f.RealFrames);
        Assert.False(f.Padded);
        var bytes = VideoDecoder.DecodeFrames(ramp.Path, 0.2, 5, 15, 10, 6);
        Assert.Equal(f.Rgb, bytes);
    }

    [Theory]
    [InlineData(1.0, 15.0, new[] { 30, 32, 34, 36, 38, 40 })] // half rate: every other source frame
    [InlineData(0.5, 30.0, new[] { 15, 16, 17, 18, 19, 20 })]
    [InlineData(0.0, 10.0, new[] { 0, 3, 6, 9 })]
    [InlineData(1.01, 15.0, new[] { 30, 32, 34 })]              // between frames: the one showing at 1.01 s is frame 30
    [InlineData(1.49, 15.0, new[] { 44, 46, 48 })]
    [InlineData(0.7, 7.0, new[] { 21, 25, 29, 33 })]              // 0.7 + k/7 s → frames 21, 25.3, 29.6, 33.9 (the one showing)
    [InlineData(0.3, 60.0, new[] { 9, 9, 10, 10, 11 })]           // above the source rate: frames repeat
    public void Frame_k_is_the_source_frame_at_start_plus_k_over_fps(double start, double fps, int[] expected)
    {
        foreach (var file in new[] { ramp.Path, ramp.Mp4 })
        {
            var f = VideoDecoder.Decode(file, start, expected.Length, fps, 8, 8);
            var got = Enumerable.Range(0, f.Count).Select(i => ramp.FrameIndex(f.Frame(i))).ToArray();
            Assert.Equal(expected, got);
        }
    }

    [Fact]
    public void Repeats_the_last_frame_and_says_how_many_were_real_when_the_file_ends_early()
    {
        // 2.5 s at 30 fps = 75 frames; from 2.0 s only 15 remain.
        var f = VideoDecoder.Decode(ramp.Path, 2.0, count: 20, fps: 30, width: 8, height: 8);
        Assert.Equal(15, f.RealFrames);
        Assert.True(f.Padded);
        Assert.Equal(74, ramp.FrameIndex(f.Frame(14)));
        for (int i = 15; i < 20; i++) Assert.True(f.Frame(i).SequenceEqual(f.Frame(14)));
    }

    [Fact]
    public void A_start_past_the_end_is_a_media_error_naming_the_file()
    {
        var e = Assert.Throws<MediaError>(() => VideoDecoder.Decode(ramp.Path, 9.0, 4, 15, 8, 8));
        Assert.Equal(ramp.Path, e.Path);
        Assert.Contains("no video frame", e.Reason);
        Assert.StartsWith(ramp.Path + ": ", e.Message);
    }
}

public class VideoDecoderClipsTests(RampVideo ramp) : IClassFixture<RampVideo>
{
    [Fact]
    public void Several_clips_in_one_run_match_one_decode_per_clip()
    {
        double[] starts = [1.49, 0.0, 0.5, 1.01];      // any order; overlapping clips
        foreach (var file in new[] { ramp.Path, ramp.Mp4 })
        {
            var clips = VideoDecoder.DecodeClips(file, starts, 6, 15, 8, 8);
            for (int i = 0; i < starts.Length; i++)
            {
                var one = VideoDecoder.Decode(file, starts[i], 6, 15, 8, 8);
                Assert.Equal(one.Rgb, clips[i].Rgb);
                Assert.Equal(6, clips[i].RealFrames);
            }
        }
    }

    [Fact]
    public void Clips_far_apart_get_their_own_seek_and_the_same_frames()
    {
        var args = VideoDecoder.ClipsArguments("file:/x.mp4", [0.0, 20.0, 1.0], 4, 15, 8, 8, "/tmp/d").Args;
        Assert.Equal(2, args.Count(a => a == "-i"));    // {0, 1} share a pass; 20 s is far away
        Assert.Equal("19.75", args[args.IndexOf("-ss")  + 1]);
    }

    [Fact]
    public void A_clip_past_the_end_is_padded_and_reports_its_real_frames()
    {
        var clips = VideoDecoder.DecodeClips(ramp.Path, [0.5, 2.2, 4.0], 10, 15, 8, 8);
        Assert.Equal(10, clips[0].RealFrames);
        Assert.Equal(5, clips[1].RealFrames);             // 2.2 s + k/15 ≤ 2.467 s (frame 74): k = 0..4
        Assert.Equal(0, clips[2].RealFrames);             // nothing after 2.5 s: the previous clip's last frame
        Assert.Equal(74, ramp.FrameIndex(clips[2].Frame(0)));
        Assert.True(clips[1].Frame(9).SequenceEqual(clips[1].Frame(4)));
    }

    [Fact]
    public void A_decode_that_would_need_more_than_the_frame_limit_is_refused_with_a_clear_message()
    {
        var e = Assert.Throws<MediaError>(() => VideoDecoder.Decode(ramp.Path, 0, 20_000, 30, 1024, 1024));
        Assert.Contains("over the limit", e.Reason);
        Assert.Contains("1024x1024", e.Reason);
        Assert.Throws<MediaError>(() => VideoDecoder.DecodeClips(ramp.Path, [0, 0.5], 200_000, 30, 1024, 1024));
    }
}
