using AvBert.Media;

namespace AvBert.Tests.Media;

public sealed class AudioFiles : IDisposable
{
    public string Dir { get; } = TestSetup.TempDir("audio");
    /// <summary>1 s of 0.5 then 1 s of −0.5 (lossless WAV at 44.1 kHz): where the step lands tells the seek accuracy.</summary>
    public string Step { get; }
    /// <summary>5.1 WAV with a constant 0.6 on the first channel and 0 elsewhere.</summary>
    public string Surround { get; }
    /// <summary>3 s 440 Hz stereo AAC at 48 kHz in an mp4 with video.</summary>
    public string Tone48k { get; }

    public AudioFiles()
    {
        Step = Path.Combine(Dir, "step.wav");
        TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", "aevalsrc='if(lt(t,1),0.5,-0.5)':s=44100:d=2", "-c:a", "pcm_f32le", Step]);
        Surround = Path.Combine(Dir, "surround.wav");
        TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", "aevalsrc=0.6|0|0|0|0|0:c=5.1:s=48000:d=1", "-c:a", "pcm_s16le", Surround]);
        Tone48k = TestMedia.Make(Dir, "tone48k", new TestMediaSpec { Seconds = 3, Width = 32, Height = 32, SampleRate = 48000, Channels = 2 });
    }

    public void Dispose() => Directory.Delete(Dir, true);
}

public class AudioDecoderTests(AudioFiles files) : IClassFixture<AudioFiles>
{
    [Fact]
    public void Mono_is_the_mean_of_all_channels_for_any_layout()
    {
        var a = AudioDecoder.DecodeClip(files.Surround, 0.2, 0.5, 44100);
        Assert.Equal(22050, a.Samples.Length);
        Assert.All(a.Samples[100..^100], s => Assert.Equal(0.1f, s, 0.002f)); // 0.6 / 6 channels
    }

    [Fact]
    public void Every_decoded_sample_is_a_16_bit_level()
    {
        // AAC decodes to arbitrary floats and the 5.1 mean (0.6/6) is not a 16-bit level either: both come out on the grid.
        foreach (var wave in new[] { AudioDecoder.Decode(files.Tone48k, 0.3, 1.0, 44100), AudioDecoder.Decode(files.Surround, 0, 0.5, 44100) })
        {
            Assert.Contains(wave, s => s != 0);
            Assert.All(wave, s => Assert.Equal(MathF.Round(s * 32768f), s * 32768f));
        }
        Assert.Equal(32767f / 32768f, AudioDecoder.ToPcm16Grid(1.5f));            // clipped like 16-bit PCM
        Assert.Equal(-1f, AudioDecoder.ToPcm16Grid(-1.5f));
        Assert.Equal(0, BitConverter.SingleToInt32Bits(AudioDecoder.ToPcm16Grid(-1e-7f)));   // never −0
    }

    [Fact]
    public void Resamples_to_exactly_the_asked_count_at_44100()
    {
        var a = AudioDecoder.DecodeSamples(files.Tone48k, 0.5, 94080, 44100);
        Assert.Equal(94080, a.Samples.Length);
        Assert.Equal(94080, a.RealSamples);
        // lavfi sine amplitude 1/8 (RMS 1/8/√2); FFmpeg upmixed the mono tone to stereo at −3 dB per channel (×1/√2).
        Assert.Equal(0.125 / 2, MediaFormatsTests.Rms(a.Samples), 0.003);
        Assert.Equal(94080, AudioDecoder.Decode(files.Tone48k, 0, 94080 / 44100.0, 44100).Length);
    }

    [Fact]
    public void Seeks_to_the_asked_sample()
    {
        var a = AudioDecoder.DecodeClip(files.Step, 0.9, 0.2, 44100);
        int step = Array.FindIndex(a.Samples, s => s < 0);
        Assert.InRange(step, 4410 - 2, 4410 + 2); // the step at 1.0 s is 0.1 s into the window
    }

    [Fact]
    public void Whole_track_when_no_duration_is_given()
    {
        var a = AudioDecoder.DecodeClip(files.Step, 0, null, 22050);
        Assert.InRange(a.Samples.Length, 44100 - 2, 44100 + 2);
        Assert.Equal(a.Samples.Length, a.RealSamples);
    }

    [Fact]
    public void Pads_with_zeros_past_the_end_and_a_start_beyond_the_end_is_silence()
    {
        var a = AudioDecoder.DecodeClip(files.Step, 1.5, 1.0, 44100);
        Assert.InRange(a.RealSamples, 22050 - 2, 22050 + 2);
        Assert.All(a.Samples[a.RealSamples..], s => Assert.Equal(0f, s));
        Assert.Equal(-0.5f, a.Samples[a.RealSamples - 10], 1e-4f);

        var late = AudioDecoder.DecodeClip(files.Step, 5.0, 0.5, 44100);
        Assert.Equal(0, late.RealSamples);
        Assert.Equal(22050, late.Samples.Length);
        Assert.All(late.Samples, s => Assert.Equal(0f, s));
    }
}

public class AudioWindowsTests(AudioFiles files) : IClassFixture<AudioFiles>
{
    [Fact]
    public void Windows_cut_from_one_decode_match_separate_decodes_and_pad_past_the_end()
    {
        double[] starts = [1.2, 0.0, 0.95, 1.9];
        var windows = AudioDecoder.DecodeWindows(files.Step, starts, 4410, 44100);
        for (int i = 0; i < 3; i++)
        {
            var one = AudioDecoder.DecodeSamples(files.Step, starts[i], 4410, 44100);
            Assert.Equal(4410, windows[i].RealSamples);
            for (int k = 0; k < 4410; k++) Assert.Equal(one.Samples[k], windows[i].Samples[k], 1e-4f);
        }
        Assert.Equal(2205, windows[2].Samples.Count(s => s > 0));          // 0.95 → 1.05 s: half before the step at 1 s
        Assert.InRange(windows[3].RealSamples, 4408, 4410);                 // 1.9 → 2.0 s: the last 0.1 s
        var late = AudioDecoder.DecodeWindows(files.Step, [1.95, 0.5], 4410, 44100);
        Assert.InRange(late[0].RealSamples, 2203, 2207);
        Assert.All(late[0].Samples[late[0].RealSamples..], s => Assert.Equal(0f, s));
    }
}
