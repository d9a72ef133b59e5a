using AvBert.Media;

namespace AvBert.Tests.Media;

/// <summary>Shared files: a good clip with audio, a silent video, an audio-only wav, a 0.3 s clip.</summary>
public sealed class BadInputFiles : IDisposable
{
    public string Dir { get; } = TestSetup.TempDir("badinput");
    public string Good { get; }
    public string SilentVideo { get; }
    public string AudioOnly { get; }
    public string Short { get; }

    public BadInputFiles()
    {
        Good = TestMedia.Make(Dir, "good", new TestMediaSpec { Seconds = 2, Width = 64, Height = 48 });
        SilentVideo = TestMedia.Make(Dir, "silent", new TestMediaSpec { Seconds = 1, Width = 64, Height = 48, Audio = false });
        AudioOnly = TestMedia.Make(Dir, "tone", new TestMediaSpec { Seconds = 1, Video = false, Extension = "wav", AudioCodec = null });
        Short = TestMedia.Make(Dir, "short", new TestMediaSpec { Seconds = 0.3, Width = 64, Height = 48 });
    }

    public string Copy(string from, string name)
    {
        var to = Path.Combine(Dir, name);
        File.Copy(from, to, true);
        return to;
    }

    public void Dispose() => Directory.Delete(Dir, true);
}

/// <summary>Every kind of bad input gives a one-line MediaError naming the file and the reason — quickly, never a hang.
/// Each call runs under a 30 s cancellation: a hang would surface as OperationCanceledException and fail the test.</summary>
public class BadInputTests(BadInputFiles files) : IClassFixture<BadInputFiles>
{
    static CancellationToken NoHang => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    static MediaError Fails(string path, Action<string, CancellationToken> use, string reason)
    {
        var e = Assert.Throws<MediaError>(() => use(path, NoHang));
        Assert.Equal(path, e.Path);
        Assert.Contains(reason, e.Reason);
        Assert.Equal($"{path}: {e.Reason}", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    static readonly Action<string, CancellationToken> Probe = (p, ct) => MediaProbe.Probe(p, ct);
    static readonly Action<string, CancellationToken> Video = (p, ct) => VideoDecoder.Decode(p, 0, 4, 15, 32, 32, ct);
    static readonly Action<string, CancellationToken> Audio = (p, ct) => AudioDecoder.DecodeClip(p, 0, 0.5, 44100, ct);

    [Fact]
    public void Missing_file()
    {
        var path = Path.Combine(files.Dir, "nope.mp4");
        foreach (var use in new[] { Probe, Video, Audio }) Fails(path, use, "file not found");
    }

    [Fact]
    public void Zero_bytes()
    {
        var path = Path.Combine(files.Dir, "zero.mp4");
        File.WriteAllBytes(path, []);
        foreach (var use in new[] { Probe, Video, Audio }) Fails(path, use, "empty file (0 bytes)");
    }

    [Fact]
    public void Random_bytes()
    {
        var path = Path.Combine(files.Dir, "random.mp4");
        File.WriteAllBytes(path, Enumerable.Range(0, 5000).Select(i => (byte)new Random(7 + i).Next(256)).ToArray());
        var e = Assert.Throws<MediaError>(() => MediaProbe.Probe(path, NoHang));
        Assert.True(e.Reason.Contains("no audio or video stream") || e.Reason.Contains("not a media file"), e.Reason);
        Assert.Throws<MediaError>(() => Video(path, NoHang));
        Assert.Throws<MediaError>(() => Audio(path, NoHang));
    }

    [Fact]
    public void Truncated_mp4_without_its_index()
    {
        var bytes = File.ReadAllBytes(files.Good);
        var path = Path.Combine(files.Dir, "truncated.mp4");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]); // the moov atom is at the end: gone
        foreach (var use in new[] { Probe, Video, Audio }) Fails(path, use, "moov atom not found");
    }

    [Fact]
    public void Truncated_stream_decodes_what_is_there_and_says_so()
    {
        var mkv = TestMedia.Make(files.Dir, "cut.mkv", new TestMediaSpec { Seconds = 2, Width = 64, Height = 48, Extension = "mkv", Audio = false });
        var bytes = File.ReadAllBytes(mkv);
        File.WriteAllBytes(mkv, bytes[..(bytes.Length * 6 / 10)]);
        var f = VideoDecoder.Decode(mkv, 0, 60, 30, 32, 32, NoHang);
        Assert.InRange(f.RealFrames, 1, 59);
        Assert.True(f.Padded);
    }

    [Fact]
    public void Audio_only_file_when_video_is_needed_and_silent_video_when_audio_is_needed()
    {
        Fails(files.AudioOnly, Video, "no video stream");
        Fails(files.SilentVideo, Audio, "no audio stream");
        Assert.Null(MediaProbe.Probe(files.AudioOnly, NoHang).Video);
        Assert.Null(MediaProbe.Probe(files.SilentVideo, NoHang).Audio);
    }

    [Fact]
    public void Shorter_than_a_clip_is_padded_and_reported_not_silently_shortened()
    {
        var v = VideoDecoder.Decode(files.Short, 0, 32, 15, 32, 32, NoHang);      // a clip wants 2.13 s; the file has 0.3 s
        Assert.InRange(v.RealFrames, 4, 6);
        Assert.Equal(32 * 32 * 32 * 3, v.Rgb.Length);
        var a = AudioDecoder.DecodeSamples(files.Short, 0, 94080, 44100, NoHang);
        Assert.Equal(94080, a.Samples.Length);
        Assert.InRange(a.RealSamples, 12000, 14500);
        Assert.All(a.Samples[a.RealSamples..], s => Assert.Equal(0f, s));
    }

    [Fact]
    public void Odd_file_names_work_and_are_named_exactly_in_errors()
    {
        foreach (var name in new[] { "späce ünï ✓ 名前.mp4", "-starts with dash.mp4", "has:colon,comma;semi.mp4", "quote'\"mark.mp4" })
        {
            var path = files.Copy(files.Good, name);
            Assert.Equal(2, MediaProbe.Probe(path, NoHang).DurationSeconds, 0.1);
            Assert.Equal(4, VideoDecoder.Decode(path, 0.5, 4, 15, 32, 32, NoHang).RealFrames);
            Assert.Equal(22050, AudioDecoder.DecodeClip(path, 0.5, 0.5, 44100, NoHang).RealSamples);
        }
        var bad = Path.Combine(files.Dir, "bad ünï ✓.mp4");
        File.WriteAllText(bad, "not a video");
        foreach (var use in new[] { Probe, Video, Audio }) Assert.StartsWith(bad + ": ", Assert.Throws<MediaError>(() => use(bad, NoHang)).Message);
    }

    [Fact]
    public void A_folder_is_not_a_media_file()
    {
        foreach (var use in new[] { Probe, Video, Audio }) Fails(files.Dir, use, "is a folder");
    }

    [Fact]
    public void Unreadable_permissions()
    {
        // As root (CI), chmod 000 does not stop reading: Unprivileged drops the capabilities that bypass permissions.
        var path = files.Copy(files.Good, "locked.mp4");
        File.SetUnixFileMode(path, UnixFileMode.None);
        try
        {
            foreach (var use in new[] { Probe, Video, Audio })
                Unprivileged.Run(() => Fails(path, use, "permission denied"));
            // FFmpeg's own wording maps to the same reason (if the file became unreadable between our check and its open).
            Assert.Contains("permission denied", FfmpegErrors.Reason($"file:{path}: Permission denied\n", "file:" + path, 1));
        }
        finally { File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); }
    }

    [Fact]
    public void Ffmpeg_errors_become_short_reasons()
    {
        var input = "file:/d/x.mp4";
        Assert.Equal("not a media file FFmpeg can read (invalid data) (moov atom not found)",
                     FfmpegErrors.Reason("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d7db5a6680] moov atom not found\nfile:/d/x.mp4: Invalid data found when processing input\n", input, 1));
        Assert.Equal("no video stream", FfmpegErrors.Reason("Stream map '0:v:0' matches no streams.\nTo ignore this, add a trailing '?' to the map.\n", input, 1));
        Assert.Equal("ffmpeg exited with code 3 and no message", FfmpegErrors.Reason("", input, 3));
    }
}
