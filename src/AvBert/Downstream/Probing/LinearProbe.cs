using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Downstream.Probing;

/// <summary>How a <see cref="LinearProbe"/> is trained: full-batch Adam on the cross-entropy of standardised features.</summary>
public sealed record LinearProbeOptions
{
    public int Steps { get; init; } = 300;
    public double LearningRate { get; init; } = 0.01;
    /// <summary>L2 penalty on the weights (not the bias), added to the loss.</summary>
    public double WeightDecay { get; init; } = 1e-3;
    public int Seed { get; init; } = 0;
}

/// <summary>
/// Logistic regression (multinomial) on frozen features: standardise with the training mean/std, then a single linear
/// layer trained full batch. The evaluation protocol of representation learning: how much of the label a linear
/// read-out finds in the features.
/// </summary>
public sealed class LinearProbe : IDisposable
{
    readonly Tensor _mean, _std, _weight, _bias;

    LinearProbe(Tensor mean, Tensor std, Tensor weight, Tensor bias)
    {
        (_mean, _std, _weight, _bias) = (mean, std, weight, bias);
    }

    /// <summary>Trains on features [N,D] (any float dtype, CPU or GPU) and integer labels [N] in 0..classes-1.</summary>
    public static LinearProbe Fit(Tensor features, Tensor labels, int classes, LinearProbeOptions? options = null)
    {
        options ??= new LinearProbeOptions();
        if (features.dim() != 2) throw new ArgumentException($"features must be [N,D], got [{string.Join(",", features.shape)}]");
        if (labels.shape[0] != features.shape[0]) throw new ArgumentException("features and labels differ in N");
        var device = features.device;
        long d = features.shape[1];
        Tensor mean, std;
        using (no_grad())
        {
            var x = features.to(ScalarType.Float32);
            mean = x.mean([0]).detach();
            std = (x.std(0, unbiased: false) + 1e-6f).detach();
        }
        var gen = new Generator((ulong)options.Seed, device);
        using var init = randn([classes, d], generator: gen, device: device);
        var weight = new TorchSharp.Modules.Parameter(init * 0.01f);
        var bias = new TorchSharp.Modules.Parameter(zeros(classes, device: device));
        var opt = optim.Adam([weight, bias], options.LearningRate);
        using (var scope = NewDisposeScope())
        {
            var xs = ((features.to(ScalarType.Float32) - mean) / std).detach();
            var y = labels.to(ScalarType.Int64).to(device);
            for (int step = 0; step < options.Steps; step++)
            {
                using var stepScope = NewDisposeScope();
                opt.zero_grad();
                var logits = nn.functional.linear(xs, weight, bias);
                var loss = nn.functional.cross_entropy(logits, y) + options.WeightDecay * weight.pow(2).sum();
                loss.backward();
                opt.step();
            }
        }
        opt.Dispose();
        gen.Dispose();
        var probe = new LinearProbe(mean, std, weight.detach().clone(), bias.detach().clone());
        weight.Dispose();
        bias.Dispose();
        return probe;
    }

    /// <summary>Class scores [N,classes] for features [N,D].</summary>
    public Tensor Logits(Tensor features)
    {
        using var _ = no_grad();
        var xs = (features.to(ScalarType.Float32) - _mean) / _std;
        return nn.functional.linear(xs, _weight, _bias);
    }

    /// <summary>Top-1 accuracy as a fraction.</summary>
    public double Accuracy(Tensor features, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var pred = Logits(features).argmax(1);
        return pred.eq(labels.to(ScalarType.Int64).to(pred.device)).to(ScalarType.Float64).mean().item<double>();
    }

    public void Dispose()
    {
        _mean.Dispose();
        _std.Dispose();
        _weight.Dispose();
        _bias.Dispose();
    }
}
