using AvBert.Config;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace AvBert.Downstream;

/// <summary>
/// The training loss and the test-time probabilities of a task: cross-entropy or multi-margin (single label,
/// softmax probabilities) or binary cross-entropy per class (multi-label, sigmoid probabilities).
/// </summary>
public sealed class ClassificationObjective(ClassificationLoss loss, double margin, int numClasses)
{
    public ClassificationLoss Loss { get; } = loss;
    public int NumClasses { get; } = numClasses;
    public bool MultiLabel => Loss == ClassificationLoss.BinaryCrossEntropy;

    /// <summary>
    /// Targets for <paramref name="labels"/> (one set per video), each repeated <paramref name="repeat"/> times in a
    /// row (the clips of a sequence): class indices [N·repeat] (long), or multi-hot [N·repeat, C] (float) for BCE.
    /// </summary>
    public Tensor Targets(IReadOnlyList<int[]> labels, int repeat, Device device)
    {
        if (MultiLabel)
        {
            var hot = new float[labels.Count * repeat * NumClasses];
            for (int i = 0; i < labels.Count; i++)
                for (int r = 0; r < repeat; r++)
                    foreach (var c in labels[i]) hot[(i * repeat + r) * NumClasses + c] = 1f;
            return tensor(hot, [labels.Count * repeat, NumClasses], device: device);
        }
        var idx = new long[labels.Count * repeat];
        for (int i = 0; i < labels.Count; i++)
        {
            if (labels[i].Length != 1)
                throw new ArgumentException($"single-label task: video {i} has {labels[i].Length} labels.");
            for (int r = 0; r < repeat; r++) idx[i * repeat + r] = labels[i][0];
        }
        return tensor(idx, device: device);
    }

    /// <summary>Mean loss of logits [N, C] against <see cref="Targets"/>, in float32 (bf16 logits of a mixed-precision step are cast).</summary>
    public Tensor Compute(Tensor logits, Tensor targets) => Loss switch
    {
        ClassificationLoss.CrossEntropy => cross_entropy(Float32(logits), targets),
        ClassificationLoss.MultiMargin => multi_margin_loss(Float32(logits), targets, p: 1, margin: margin),
        ClassificationLoss.BinaryCrossEntropy => binary_cross_entropy_with_logits(Float32(logits), targets),
        _ => throw new ArgumentOutOfRangeException(nameof(loss)),
    };

    static Tensor Float32(Tensor logits) => logits.dtype == ScalarType.Float32 ? logits : logits.to(ScalarType.Float32);

    /// <summary>Sum of the losses of every head's logits (the reference adds the clip-head and sequence-head losses).</summary>
    public Tensor Compute(IReadOnlyList<Tensor> logits, Tensor targets)
    {
        var total = Compute(logits[0], targets);
        for (int i = 1; i < logits.Count; i++)
        {
            using var l = Compute(logits[i], targets);
            var next = total + l;
            total.Dispose();
            total = next;
        }
        return total;
    }

    /// <summary>Class probabilities [N, C] averaged over the heads: softmax (single label) or sigmoid (multi-label), in float32.</summary>
    public Tensor Probabilities(IReadOnlyList<Tensor> logits)
    {
        Tensor? sum = null;
        foreach (var l in logits)
        {
            var p = MultiLabel ? Float32(l).sigmoid() : Float32(l).softmax(-1);
            if (sum is null) sum = p;
            else { var next = sum + p; sum.Dispose(); p.Dispose(); sum = next; }
        }
        using (sum) return sum!.div(logits.Count);
    }
}
