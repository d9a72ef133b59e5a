using AvBert.Media;

namespace AvBert.Tests.Media;

/// <summary>Probe and decode across containers, codecs, frame rates, sample rates and channel counts.</summary>
public class MediaFormatsTests
{
    public static TheoryData<string, string?, string?, double, int, int> Formats => new()
    {
        // extension, video codec, audio codec, fps, sample rate, channels
        { "mp4", "libx264", "aac", 30, 44100, 2 },
        { "mkv", "mpeg4", "libvorbis", 25, 48000, 1 },
        { "webm", "libvpx", "libopus", 24, 48000, 2 },
        { "avi", "mjpeg", "pcm_s16le", 29.97, 22050, 1 },
        { "mov", "libx264", "aac", 60, 32000, 6 },
        { "mp4", "libx264", null, 15, 44100, 1 }, // no audio: still fine for visual tasks
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void Probes_and_decodes_any_container_ffmpeg_reads(string ext, string? vcodec, string? acodec, double fps, int sr, int ch)
    {
        var dir = TestSetup.TempDir("formats");
        try
        {
            var path = TestMedia.Make(dir, $"clip.{ext}", new TestMediaSpec
            {
                Seconds = 1.5, Fps = fps, Extension = ext, VideoCodec = vcodec, AudioCodec = acodec, Audio = acodec is not null,
                SampleRate = sr, Channels = ch, Width = 96, Height = 64,
            });
            var info = MediaProbe.Probe(path);
            Assert.NotNull(info.Video);
            Assert.Equal((96, 64), (info.Video!.Width, info.Video.Height));
            Assert.Equal(fps, info.Video.Fps, 0.01);
            Assert.InRange(info.DurationSeconds, 1.4, 1.7);
            if (acodec is null) Assert.Null(info.Audio);
            else
            {
                Assert.Equal(ch, info.Audio!.Channels);
                Assert.Equal(acodec == "libopus" ? 48000 : sr, info.Audio.SampleRate);
                var a = AudioDecoder.DecodeClip(path, 0.5, 0.5, 44100);
                Assert.Equal(22050, a.Samples.Length);
                Assert.Equal(22050, a.RealSamples);
                Assert.True(Rms(a.Samples) > 0.01, "the tone should come through"); // 6 ch: the mono tone sits in FC only, mean = 1/6
            }
            var v = VideoDecoder.Decode(path, 0.5, 8, 15, 56, 40);
            Assert.Equal(8, v.RealFrames);
            Assert.Equal(8 * 40 * 56 * 3, v.Rgb.Length);
            Assert.Contains(v.Rgb, b => b > 100); // testsrc2 is colourful, not black
        }
        finally { Directory.Delete(dir, true); }
    }

    internal static double Rms(float[] x) => Math.Sqrt(x.Sum(v => (double)v * v) / Math.Max(1, x.Length));
}

public class MediaProbeTests
{
    [Fact]
    public void Probe_reads_rotation_attached_pictures_and_caches_until_the_file_changes()
    {
        var dir = TestSetup.TempDir("probe");
        try
        {
            var clip = TestMedia.Make(dir, "clip", new TestMediaSpec { Seconds = 1, Width = 64, Height = 48 });
            var rotated = Path.Combine(dir, "rotated.mp4");
            TestMedia.Run(["-y", "-v", "error", "-i", clip, "-c", "copy", "-metadata:s:v", "rotate=90", rotated]);
            Assert.Equal((48, 64), (MediaProbe.Probe(rotated).Video!.Width, MediaProbe.Probe(rotated).Video!.Height));
            Assert.Equal(48 * 64 * 3, VideoDecoder.DecodeFrames(rotated, 0, 1, 15, 48, 64).Length); // FFmpeg turns the frames too

            // An mp3 with a cover picture: the picture is not a video stream.
            var png = Path.Combine(dir, "cover.png");
            TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", "color=red:s=32x32:d=0.04", "-frames:v", "1", png]);
            var mp3 = Path.Combine(dir, "song.mp3");
            TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-i", png, "-map", "0:a", "-map", "1:v", "-c:v", "png",
                           "-disposition:v", "attached_pic", mp3]);
            var song = MediaProbe.Probe(mp3);
            Assert.Null(song.Video);
            Assert.NotNull(song.Audio);

            var first = MediaProbe.Probe(clip);
            Assert.Same(first.Video, MediaProbe.Probe(clip).Video);               // cached
            TestMedia.Make(dir, "clip", new TestMediaSpec { Seconds = 2, Width = 64, Height = 48 });
            File.SetLastWriteTimeUtc(clip, DateTime.UtcNow.AddSeconds(5));
            Assert.Equal(2, MediaProbe.Probe(clip).DurationSeconds, 0.1);         // changed file: probed again
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Frame_rates_are_read_from_fractions()
    {
        Assert.Equal(29.97, MediaProbe.Rate("30000/1001"), 0.001);
        Assert.Equal(0, MediaProbe.Rate("0/0"));
        Assert.Equal(25, MediaProbe.Rate("25"));
    }
}
