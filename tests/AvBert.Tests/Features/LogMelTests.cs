using AvBert.Features;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace AvBert.Tests.Features;

public class LogMelTests(Xunit.Abstractions.ITestOutputHelper output)
{
    static Dictionary<string, Tensor> Reference() =>
        Safetensors.LoadStateDict(Path.Combine(TestSetup.ReferenceDir, "logmel-a.safetensors"));

    [Theory]
    [InlineData("clip_94080", 80, 128)]
    [InlineData("clip_88200", 80, 128)]
    [InlineData("short_30000", 80, 128)]
    [InlineData("small_40x64", 40, 64)]
    public void Log_mel_matches_the_reference_to_1e4(string name, int mels, int frames)
    {
        var reference = Reference();
        var waveform = reference[$"{name}.waveform"];
        var expected = reference[$"{name}.logmel"];
        var ours = new LogMel(new LogMelOptions(44100, mels, frames)).Compute(waveform);
        Assert.Equal(expected.shape, ours.shape);
        var maxErr = (ours - expected).abs().max().item<float>();
        output.WriteLine($"{name}: max |ours - ref| = {maxErr:E2}");
        Assert.True(maxErr <= 1e-4, $"{name}: max |ours - ref| = {maxErr}");
    }

    [Fact]
    public void Short_window_has_empty_filters_at_log_epsilon_and_zero_padding_after_the_last_frame()
    {
        var reference = Reference();
        var logMel = new LogMel(new LogMelOptions(44100, 80, 128)).Compute(reference["short_30000.waveform"]);
        // 30,000 samples: n_fft 470, hop 235 -> 128 frames; the lowest mel filters fall between FFT bins.
        var empty = (float)Math.Log(LogMel.Epsilon);
        var firstRow = logMel[0, 0];
        Assert.True((firstRow - empty).abs().max().item<float>() < 1e-5, "lowest filter should be empty: log(1e-6)");
        // The filterbank itself has exactly-zero columns for that n_fft.
        var fb = MelFilterbank.Create(470 / 2 + 1, 0, 22050, 80, 44100);
        var emptyColumns = (fb.max(0).values == 0).sum().item<long>();
        Assert.True(emptyColumns > 0);
    }

    [Fact]
    public void Too_few_frames_are_zero_padded_in_the_log_domain()
    {
        // 1,000 samples with TIME=64: n_fft 2·(15+1)=32, hop 16 -> 63 frames, so the last column is padding (0).
        var x = sin(arange(1000, dtype: ScalarType.Float32) * 0.3f).unsqueeze(0);
        var y = new LogMel(new LogMelOptions(44100, 16, 64)).Compute(x);
        Assert.Equal(new long[] { 1, 16, 64 }, y.shape);
        Assert.Equal(0f, y[0, .., 63].abs().max().item<float>());
        Assert.True(y[0, .., 62].abs().max().item<float>() > 0);
    }

    [Fact]
    public void Batched_windows_equal_one_at_a_time()
    {
        var reference = Reference();
        var w = reference["clip_94080.waveform"];
        var batch = cat([w, w.flip(-1), w * 0.5f], 0);                        // [3, N]
        var logMel = new LogMel(new LogMelOptions());
        var together = logMel.Compute(batch);
        for (int i = 0; i < 3; i++)
        {
            var alone = logMel.Compute(batch[i..(i + 1)]);
            Assert.True((together[i..(i + 1)] - alone).abs().max().item<float>() < 1e-5);
        }
    }
}
