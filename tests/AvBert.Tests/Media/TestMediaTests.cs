namespace AvBert.Tests.Media;

public class TestMediaTests
{
    [Fact]
    public void Generates_video_with_audio_and_audio_only_files()
    {
        var dir = TestSetup.TempDir("testmedia");
        var mp4 = TestMedia.Make(dir, "clip", new TestMediaSpec { Seconds = 1 });
        var wav = TestMedia.Make(dir, "tone", new TestMediaSpec { Seconds = 1, Video = false, Extension = "wav", AudioCodec = null });
        Assert.True(new FileInfo(mp4).Length > 1000);
        Assert.True(new FileInfo(wav).Length > 44100); // 1 s of 16-bit mono PCM
        Directory.Delete(dir, true);
    }
}
