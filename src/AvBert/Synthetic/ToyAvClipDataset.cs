using AvBert.Config;
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

    /// <summary>Default videos per epoch of <c>--data toy-av</c>.</summary>
    public const int DefaultVideosPerEpoch = 2000;

    /// <summary>
    /// The data spec <c>toy-av</c> or <c>toy-av:N</c> (N new videos per epoch) as a pretraining dataset with the config's
    /// clip geometry and the pretraining seed; null when <paramref name="spec"/> names something else (files).
    /// </summary>
    public static ToyAvClipDataset? FromSpec(string spec, AvBertConfig config)
    {
        if (!IsSpec(spec, out var videos)) return null;
        var toy = new ToyAv(new ToyAvOptions { Seed = config.Pretrain.Seed }, config.Data);
        return new ToyAvClipDataset(toy, ToyAvSplit.Train, videos ?? DefaultVideosPerEpoch, freshEachEpoch: true);
    }

    /// <summary>Whether <paramref name="spec"/> is <c>toy-av</c> (<paramref name="videos"/> null: the job's default count) or
    /// <c>toy-av:N</c> (N videos); false for anything else (files).</summary>
    public static bool IsSpec(string spec, out int? videos)
    {
        videos = null;
        if (spec == "toy-av") return true;
        if (!spec.StartsWith("toy-av:", StringComparison.Ordinal)) return false;
        if (!int.TryParse(spec["toy-av:".Length..], out var n) || n <= 0)
            throw new Runtime.UserError($"--data {spec}: toy-av:N needs a positive number of videos, e.g. toy-av:2000.");
        videos = n;
        return true;
    }

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
            VisualInput = data.VisualClips(scene),
            VisualShape = data.VisualShape,
            Audio = _logMel.Compute(data.Waveform(scene), T, data.ClipSamples),
            AudioShape = [T, 1, data.AudioBins, data.AudioFrames],
            ClipStartSeconds = Enumerable.Range(0, T).Select(t => t * data.ClipSeconds).ToArray(),
            AudioClipStarts = Enumerable.Range(0, T).Select(t => (long)t * data.ClipSamples).ToArray(),
        };
    }
}
