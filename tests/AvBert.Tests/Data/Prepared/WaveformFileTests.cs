using AvBert.Data.Prepared;
using AvBert.Media;

namespace AvBert.Tests.Data.Prepared;

public sealed class WaveformFileTests : IDisposable
{
    readonly string _dir = TestSetup.TempDir("wavez");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Noise_on_the_16_bit_grid_comes_back_bit_for_bit_in_about_two_bytes_a_sample_or_less()
    {
        var rng = new Random(3);
        // Full-scale jumps (differences wrap around in 16 bits), the extremes, and noise.
        var wave = new float[44100];
        for (int i = 0; i < wave.Length; i++) wave[i] = AudioDecoder.ToPcm16Grid((float)(rng.NextDouble() * 2 - 1) * (i % 1000 < 10 ? 1f : 0.3f));
        wave[5] = -1f; wave[6] = 32767f / 32768f; wave[7] = -1f;
        var path = Path.Combine(_dir, "a.wavez");
        WaveformFile.Write(path, wave);
        var back = WaveformFile.Read(path, wave.Length);
        Assert.Equal(wave.Select(BitConverter.SingleToInt32Bits), back.Select(BitConverter.SingleToInt32Bits));
        Assert.InRange(new FileInfo(path).Length, 1000, 2 * wave.Length + 100);   // float32 bits took twice that and more

        Assert.Throws<InvalidDataException>(() => WaveformFile.Read(path, wave.Length + 1));
        Assert.Throws<ArgumentException>(() => WaveformFile.Write(Path.Combine(_dir, "b.wavez"), [0.1f]));   // not a 16-bit level
    }
}
