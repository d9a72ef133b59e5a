using AvBert.Config;
using static TorchSharp.torch;

namespace AvBert.Downstream.Evaluation;

/// <summary>
/// Test-time view aggregation: every video is seen through several views (temporal clips × spatial crops, or the
/// clips of a sequence); each view gives class probabilities, and the video's prediction is their mean
/// (<see cref="ViewEnsemble.Sum"/>, the reference's summed softmax up to a constant) or their element-wise maximum
/// (<see cref="ViewEnsemble.Max"/>).
/// </summary>
public sealed class ViewAggregator
{
    readonly float[][] _scores;
    readonly int[] _views;
    readonly ViewEnsemble _method;

    public ViewAggregator(int numVideos, int numClasses, ViewEnsemble method)
    {
        _scores = Enumerable.Range(0, numVideos).Select(_ => new float[numClasses]).ToArray();
        _views = new int[numVideos];
        _method = method;
        NumClasses = numClasses;
    }

    public int NumClasses { get; }
    public int NumVideos => _views.Length;

    /// <summary>Adds one view's probabilities for a video.</summary>
    public void Add(int video, ReadOnlySpan<float> probabilities)
    {
        if (probabilities.Length != NumClasses) throw new ArgumentException($"a view has {probabilities.Length} probabilities; expected {NumClasses}.");
        var row = _scores[video];
        if (_method == ViewEnsemble.Max && _views[video] > 0)
            for (int c = 0; c < row.Length; c++) row[c] = Math.Max(row[c], probabilities[c]);
        else if (_method == ViewEnsemble.Max)
            probabilities.CopyTo(row);
        else
            for (int c = 0; c < row.Length; c++) row[c] += probabilities[c];
        _views[video]++;
    }

    /// <summary>Adds a batch of views: <paramref name="probabilities"/> [N, C] (any device), video of each row in <paramref name="videos"/>.</summary>
    public void Add(IReadOnlyList<int> videos, Tensor probabilities)
    {
        if (probabilities.dim() != 2 || probabilities.shape[0] != videos.Count || probabilities.shape[1] != NumClasses)
            throw new ArgumentException($"expected probabilities [{videos.Count}, {NumClasses}], got [{string.Join(", ", probabilities.shape)}].");
        var flat = probabilities.detach().to(float32).cpu().contiguous().data<float>().ToArray();
        for (int i = 0; i < videos.Count; i++) Add(videos[i], flat.AsSpan(i * NumClasses, NumClasses));
    }

    /// <summary>Views received per video.</summary>
    public IReadOnlyList<int> ViewCounts => _views;

    /// <summary>Video-level scores [V][C]: mean (sum method) or max of the views; a video with no view scores all zeros.</summary>
    public float[][] Scores() => _scores.Select((row, v) =>
        _method == ViewEnsemble.Sum && _views[v] > 0 ? row.Select(x => x / _views[v]).ToArray() : (float[])row.Clone()).ToArray();
}
