using AvBert.Data;
using AvBert.Features;

namespace AvBert.Synthetic;

/// <summary>
/// toy-av as an <see cref="IClipDataset"/>, so the standard <see cref="BatchLoader"/> and pretraining run can train on it
/// like on video files. Sample i of epoch e is video <c>FirstIndex + i</c> of the split, or, with
/// <paramref name="freshEachEpoch"/>, video <c>FirstIndex + e·Count + i</c>: a new set of videos every epoch (toy-av has
/// no end). Loading renders the video and computes its log-mel clips; the loader seed is not needed (videos are fixed by
/// the toy-av seed).
/// </summary>
public sealed class ToyAvClipDataset(ToyAv data, ToyAvSplit split, int count, bool freshEachEpoch = false, int firstIndex = 0) : IClipDataset
{
    readonly LogMel _logMel = new(new LogMelOptions(data.SampleRate, data.AudioBins, data.AudioFrames));

    public int Count => count;
    public ToyAv Data => data;

    public string PathOf(int index) => $"toy-av:{split.ToString().ToLowerInvariant()}/{firstIndex + index}";

    public ClipSequence Load(int index, int seed, int epoch, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        long video = firstIndex + (freshEachEpoch ? (long)epoch * count : 0) + index;
        if (video > int.MaxValue) throw new InvalidOperationException("toy-av index space exhausted");
        var scene = data.Scene(split, (int)video);
        int T = data.Clips;
        return new ClipSequence
        {
            Index = index,
            ItemIndex = index,
            Path = PathOf(index),
            Labels = [scene.Label],
            Visual = data.VisualClips(scene),
            VisualShape = data.VisualShape,
            Audio = _logMel.Compute(data.Waveform(scene), T, data.ClipSamples),
            AudioShape = [T, 1, data.AudioBins, data.AudioFrames],
            ClipStartSeconds = Enumerable.Range(0, T).Select(t => t * data.ClipSeconds).ToArray(),
            AudioClipStarts = Enumerable.Range(0, T).Select(t => (long)t * data.ClipSamples).ToArray(),
        };
    }
}
