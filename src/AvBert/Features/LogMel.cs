using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Features;

/// <summary>Sizes of the log-mel front end: mel bins (FREQUENCY) and frames (TIME) per clip, at a sample rate.</summary>
public sealed record LogMelOptions(int SampleRate = 44100, int NumMels = 80, int NumFrames = 128);

/// <summary>
/// The audio front end of SPEC §3, for a batch of equal-length windows at once:
/// n_fft = 2·(⌊N/TIME⌋+1), periodic Hann window of n_fft, hop n_fft/2, centred with reflection padding, power 2,
/// HTK mel filters over 0…sr/2 without normalisation, <c>log(mel + 1e-6)</c>, then truncated or zero-padded
/// (value 0 in the log domain) to TIME frames. Matches the reference (torchaudio MelSpectrogram) to 1e-4.
/// Thread-safe: filterbanks and windows are cached per n_fft.
/// </summary>
public sealed class LogMel(LogMelOptions options)
{
    public const double Epsilon = 1e-6;
    public LogMelOptions Options { get; } = options;

    readonly ConcurrentDictionary<int, (float[] Window, float[] Filters)> _cache = new();

    /// <summary>n_fft for a window of <paramref name="samples"/> samples.</summary>
    public int FftSize(int samples) => 2 * (samples / Options.NumFrames + 1);

    /// <summary>[..., N] float32 waveforms → [..., FREQUENCY, TIME] log-mel spectrograms (same device).</summary>
    public Tensor Compute(Tensor waveforms)
    {
        if (waveforms.dim() < 1) throw new ArgumentException("waveform must have a time axis", nameof(waveforms));
        var n = (int)waveforms.shape[^1];
        var batchShape = waveforms.shape[..^1];
        var nFft = FftSize(n);
        if (n <= nFft / 2)
            throw new ArgumentException($"log-mel: a window of {n} samples is too short for reflection padding of {nFft / 2} (need > {nFft / 2}); zero-pad the waveform first.");
        var (windowData, filterData) = _cache.GetOrAdd(nFft, Build);

        using var scope = NewDisposeScope();
        var device = waveforms.device;
        var window = tensor(windowData, device: device);
        var fb = tensor(filterData, [nFft / 2 + 1, Options.NumMels], device: device);
        var flat = waveforms.to(ScalarType.Float32).reshape(-1, n);                           // [B, N]
        var spec = stft(flat, nFft, hop_length: nFft / 2, win_length: nFft, window: window, center: true,
                        pad_mode: PaddingModes.Reflect, normalized: false, onesided: true, return_complex: true);
        var power = spec.abs().pow(2);                                                        // [B, nFft/2+1, frames]
        var mel = matmul(power.transpose(-1, -2), fb).transpose(-1, -2);                       // [B, FREQ, frames]
        var logMel = log(mel + Epsilon);
        var frames = (int)logMel.shape[^1];
        var time = Options.NumFrames;
        Tensor fitted;
        if (frames >= time) fitted = logMel[.., .., ..time];
        else fitted = nn.functional.pad(logMel, [0, time - frames], PaddingModes.Constant, 0.0);
        long[] outShape = [.. batchShape, Options.NumMels, time];
        return fitted.contiguous().reshape(outShape).MoveToOuterDisposeScope();
    }

    /// <summary>Convenience for CPU float arrays: <paramref name="windows"/> is [count, samples] row-major; returns [count, FREQ, TIME].</summary>
    public float[] Compute(float[] windows, int count, int samples)
    {
        using var scope = NewDisposeScope();
        var x = tensor(windows, [count, samples]);
        return Compute(x).data<float>().ToArray();
    }

    (float[], float[]) Build(int nFft)
    {
        using var scope = NewDisposeScope();
        var window = hann_window(nFft, periodic: true, dtype: ScalarType.Float32).data<float>().ToArray();
        var fb = MelFilterbank.Create(nFft / 2 + 1, 0.0, Options.SampleRate / 2, Options.NumMels, Options.SampleRate)
                              .data<float>().ToArray();
        return (window, fb);
    }
}
