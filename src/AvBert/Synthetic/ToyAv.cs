using AvBert.Config;
using AvBert.Features;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Synthetic;

/// <summary>
/// toy-av: a procedurally generated audio-visual dataset made in-process (no files, no FFmpeg). Each video has one event
/// class: an object of the class's shape that, now and then, moves with the class's motion while the class's tone sounds
/// (what moves is what sounds, when it sounds). Distractor objects of other classes move silently; colours, positions,
/// sizes, background and noise vary. Videos come in the model's input format: <see cref="DataConfig.SequenceLength"/> clips
/// of <see cref="DataConfig.NumFrames"/> frames (<see cref="DataConfig.SamplingRate"/> apart at <see cref="DataConfig.TargetFps"/>),
/// normalised like real data, and the matching audio windows as waveforms (the log-mel front end turns them into model input).
/// </summary>
public sealed class ToyAv
{
    readonly DataConfig _data;
    readonly ToyAvSceneSampler _sampler;
    readonly LogMel _logMel;

    public ToyAv(ToyAvOptions options, DataConfig data)
    {
        Options = options;
        _data = data;
        Classes = ToyAvClasses.Table(options.NumClasses);
        _sampler = new ToyAvSceneSampler(options, Classes, data.SequenceLength, data.ClipSeconds);
        Renderer = new ToyAvRenderer(Classes, options.MotionAmplitude, options.SoundingGlow);
        _logMel = new LogMel(new LogMelOptions(data.AudioSampleRate, data.AudioFrequency, data.AudioTime));
    }

    public ToyAvOptions Options { get; }
    public IReadOnlyList<ToyAvClass> Classes { get; }
    public ToyAvRenderer Renderer { get; }
    public int Clips => _data.SequenceLength;
    public double ClipSeconds => _data.ClipSeconds;
    public double DurationSeconds => Clips * ClipSeconds;
    /// <summary>Samples of one clip's audio window.</summary>
    public int ClipSamples => _data.AudioClipSamples;
    public int SampleRate => _data.AudioSampleRate;
    /// <summary>Side of the square frames given to the model (the test crop size).</summary>
    public int FrameSize => _data.TestCropSize;
    public int FramesPerClip => _data.NumFrames;
    /// <summary>Mel bins and frames of one audio clip's log-mel.</summary>
    public int AudioBins => _data.AudioFrequency;
    public int AudioFrames => _data.AudioTime;
    /// <summary>[T,3,F,H,W] of one video's visual clips.</summary>
    public long[] VisualShape => [Clips, 3, FramesPerClip, FrameSize, FrameSize];

    public ToyAvScene Scene(ToyAvSplit split, int index) => _sampler.Sample(split, index);
    public int Label(ToyAvSplit split, int index) => _sampler.Label(split, index);

    /// <summary>Time in seconds of frame <paramref name="f"/> of clip <paramref name="t"/>.</summary>
    public double FrameTime(int t, int f) => t * ClipSeconds + (double)f * _data.SamplingRate / _data.TargetFps;

    /// <summary>The visual clips, normalised with the data mean/std, laid out [T,3,F,H,W] (H = W = <see cref="FrameSize"/>).</summary>
    public float[] VisualClips(ToyAvScene scene)
    {
        var outp = new float[VisualLength];
        VisualClips(scene, outp);
        return outp;
    }

    /// <summary>Floats in one video's visual clips: T·3·F·H·W.</summary>
    public int VisualLength => Clips * 3 * _data.NumFrames * FrameSize * FrameSize;

    /// <summary>Writes <see cref="VisualClips(ToyAvScene)"/> into <paramref name="outp"/>.</summary>
    public void VisualClips(ToyAvScene scene, Span<float> outp)
    {
        int T = Clips, F = _data.NumFrames, S = FrameSize, hw = S * S;
        var frame = new float[3 * hw];
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++)
            {
                Renderer.RenderFrame(scene, FrameTime(t, f), S, S, frame);
                for (int c = 0; c < 3; c++)
                {
                    float mean = (float)_data.Mean[c], inv = 1f / (float)_data.Std[c];
                    int dst = ((t * 3 + c) * F + f) * hw, src = c * hw;
                    for (int i = 0; i < hw; i++) outp[dst + i] = (frame[src + i] - mean) * inv;
                }
            }
    }

    /// <summary>The whole soundtrack: T audio windows laid end to end, T·<see cref="ClipSamples"/> samples.</summary>
    public float[] Waveform(ToyAvScene scene) => Renderer.Waveform(scene, SampleRate, Clips * ClipSamples);

    /// <summary>
    /// A batch of videos in the model's input format: visual [B,T,3,F,H,W] normalised, audio [B,T,1,FREQ,TIME] log-mel
    /// (SPEC §3 front end), labels [B] (int64). Items render in parallel on the CPU; tensors are on the CPU.
    /// </summary>
    public ToyAvBatch Batch(ToyAvSplit split, IReadOnlyList<int> indices)
    {
        int B = indices.Count, T = Clips, F = _data.NumFrames, S = FrameSize;
        int vn = VisualLength, an = T * ClipSamples;
        var visual = new float[B * vn];
        var audio = new float[B * an];
        var labels = new long[B];
        Parallel.For(0, B, b =>
        {
            var scene = Scene(split, indices[b]);
            VisualClips(scene, visual.AsSpan(b * vn, vn));
            Waveform(scene).CopyTo(audio, b * an);
            labels[b] = scene.Label;
        });
        Tensor logMel;
        using (var waves = tensor(audio, [B, T, 1, ClipSamples])) logMel = _logMel.Compute(waves); // [B,T,1,FREQ,TIME]
        return new ToyAvBatch(tensor(visual, [B, T, 3, F, S, S]), logMel, tensor(labels), indices.ToArray());
    }
}

/// <summary>Visual [B,T,3,F,H,W] normalised; Audio [B,T,1,FREQ,TIME] log-mel; Labels [B] int64; the item indices.</summary>
public sealed record ToyAvBatch(Tensor Visual, Tensor Audio, Tensor Labels, int[] Indices) : IDisposable
{
    public void Dispose()
    {
        Visual.Dispose();
        Audio.Dispose();
        Labels.Dispose();
    }
}
