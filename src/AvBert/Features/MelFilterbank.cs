using static TorchSharp.torch;

namespace AvBert.Features;

/// <summary>
/// Triangular mel filterbank on the HTK mel scale without area normalisation (SPEC §3), computed with the same
/// float32 operations, in the same order, as torchaudio's <c>melscale_fbanks(norm=None, mel_scale="htk")</c>, so that
/// filters whose triangle falls between two FFT bins come out exactly zero (as in the reference), not merely tiny.
/// </summary>
public static class MelFilterbank
{
    public static double HzToMel(double hz) => 2595.0 * Math.Log10(1.0 + hz / 700.0);

    /// <summary>[numFrequencies, numMels] float32 weights; numFrequencies = n_fft/2 + 1.</summary>
    public static Tensor Create(int numFrequencies, double fMin, double fMax, int numMels, int sampleRate)
    {
        using var scope = NewDisposeScope();
        var allFreqs = linspace(0, sampleRate / 2, numFrequencies, dtype: ScalarType.Float32);     // integer sr//2 as in torchaudio
        var mels = linspace(HzToMel(fMin), HzToMel(fMax), numMels + 2, dtype: ScalarType.Float32);
        var fPts = 700.0 * (pow(10.0, mels / 2595.0) - 1.0);                                    // mel -> Hz, float32
        var fDiff = fPts[1..] - fPts[..^1];                                                     // [numMels+1]
        var slopes = fPts.unsqueeze(0) - allFreqs.unsqueeze(1);                                 // [numFreqs, numMels+2]
        var down = (-1.0 * slopes[.., ..^2]) / fDiff[..^1];                                     // [numFreqs, numMels]
        var up = slopes[.., 2..] / fDiff[1..];
        var fb = maximum(zeros(1, dtype: ScalarType.Float32), minimum(down, up));
        return fb.contiguous().MoveToOuterDisposeScope();
    }
}
