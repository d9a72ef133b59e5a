using AvBert.Config;
using AvBert.Data;
using AvBert.Features;
using AvBert.Media;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace AvBert.Tests.Data;

public class SampleInspectorTests(DatasetMedia media) : IClassFixture<DatasetMedia>
{
    static readonly DataConfig Tiny = VideoSequenceDatasetTests.Tiny;

    [Fact]
    public void Inspect_writes_the_documented_tensors_and_a_png()
    {
        var dir = TestSetup.TempDir("inspect");
        using var i = SampleInspector.Inspect(media.Video, Tiny);
        Assert.Empty(i.Missing);
        Assert.Equal(new[] { "video.frames", "video.clip_start", "audio.waveform", "audio.clip_start", "audio.logmel" }, i.Tensors.Keys);
        Assert.Equal(new long[] { 3, 3, 4, 32, 32 }, i.Tensors["video.frames"].shape);
        Assert.Equal(ScalarType.Int64, i.Tensors["audio.clip_start"].dtype);
        var wave = i.Tensors["audio.waveform"];
        Assert.Equal(1, wave.shape[0]);
        Assert.Equal(AudioDecoder.Decode(media.Video, 0, null, 44100).Length, wave.shape[1]);   // the whole track

        // The log-mel of clip k is the log-mel of the waveform window at audio.clip_start[k].
        var starts = i.Tensors["audio.clip_start"].data<long>().ToArray();
        int w = Tiny.AudioClipSamples;
        var logMel = new LogMel(new LogMelOptions(44100, Tiny.AudioFrequency, Tiny.AudioTime));
        for (int k = 0; k < 3; k++)
        {
            var window = wave[0, (int)starts[k]..(int)(starts[k] + w)].unsqueeze(0);
            var expected = logMel.Compute(window);
            Assert.True((i.Tensors["audio.logmel"][k] - expected).abs().max().item<float>() < 1e-5);
        }

        var st = Path.Combine(dir, "x.safetensors");
        i.SaveTensors(st);
        var back = Safetensors.LoadStateDict(st);
        Assert.Equal(i.Tensors.Keys.Order(), back.Keys.Order());
        Assert.True(back["video.frames"].allclose(i.Tensors["video.frames"], 0, 0));
        Assert.Equal(starts, back["audio.clip_start"].data<long>().ToArray());

        var png = Path.Combine(dir, "x.png");
        InspectionImage.Save(png, Tiny, 3, i.Clips.ModelVisual(), i.Clips.Audio, i.Clips.ClipStartSeconds, i.Clips.AudioClipStarts, "test");
        var bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void A_track_too_long_to_keep_whole_decodes_only_the_windows()
    {
        var request = new ClipRequest([0, 0.5, 1], SampleMode.Test) { KeepWaveform = true };
        var windows = new ClipReader(Tiny, Modalities.Audio) { KeepWaveformMaxSeconds = 1, WholeAudioSeconds = 1 }.Read(media.Video, request, null, null, default);
        Assert.Null(windows.Waveform);                                      // the 2 s track is "too long" here
        Assert.Equal(new long[] { 3, 1, Tiny.AudioFrequency, Tiny.AudioTime }, windows.AudioShape);
        Assert.NotNull(new ClipReader(Tiny, Modalities.Audio).Read(media.Video, request, null, null, default).Waveform);
    }

    [Fact]
    public void A_file_with_one_stream_gives_only_that_streams_keys()
    {
        using (var audioOnly = SampleInspector.Inspect(media.Wav, Tiny))
        {
            Assert.Equal(new[] { "video" }, audioOnly.Missing);
            Assert.All(audioOnly.Tensors.Keys, k => Assert.StartsWith("audio.", k));
        }
        using var videoOnly = SampleInspector.Inspect(media.Silent, Tiny);
        Assert.Equal(new[] { "audio" }, videoOnly.Missing);
        Assert.Equal(new[] { "video.frames", "video.clip_start" }, videoOnly.Tensors.Keys);
    }

    [Fact]
    public void An_unreadable_file_is_a_one_line_media_error()
    {
        var dir = TestSetup.TempDir("inspect-bad");
        var bad = Path.Combine(dir, "bad.mp4");
        File.WriteAllText(bad, "not a video");
        var e = Assert.Throws<MediaError>(() => SampleInspector.Inspect(bad, Tiny));
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith(bad, e.Message);
        Directory.Delete(dir, true);
    }
}
