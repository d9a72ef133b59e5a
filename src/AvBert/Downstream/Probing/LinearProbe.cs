using TorchSharp;
using TorchSharp.Modules;
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

    /// <summary>The trained weights [classes,D] (on standardised features) and bias [classes].</summary>
    internal (Tensor Weight, Tensor Bias) Parameters => (_weight, _bias);

    /// <summary>Trains on features [N,D] (any float dtype, CPU or GPU) and integer labels [N] in 0..classes-1.</summary>
    public static LinearProbe Fit(Tensor features, Tensor labels, int classes, LinearProbeOptions? options = null)
    {
        options ??= new LinearProbeOptions();
        CheckShapes(features, labels);
        var device = features.device;
        var (mean, std) = Statistics(features);
        var weight = new Parameter(Init(classes, features.shape[1], options.Seed, device));
        var bias = new Parameter(zeros(classes, device: device));
        using (var scope = NewDisposeScope())
        {
            var xs = ((features.to(ScalarType.Float32) - mean) / std).detach();
            var y = labels.to(ScalarType.Int64).to(device);
            using var one = 1.ToScalar();                                                          // held: see LinearProbeAdam
            using var two = 2.ToScalar();
            using var decay = options.WeightDecay.ToScalar();
            Train(weight, bias, options, () =>
            {
                weight.grad?.zero_();
                bias.grad?.zero_();
                var logits = nn.functional.linear(xs, weight, bias);
                var loss = nn.functional.cross_entropy(logits, y).add(weight.pow(two).sum().mul(decay), one);
                loss.backward();
                return (weight.grad!, bias.grad!);
            });
        }
        var probe = new LinearProbe(mean, std, weight.detach().clone(), bias.detach().clone());
        weight.Dispose();
        bias.Dispose();
        return probe;
    }

    /// <summary>
    /// One probe per fold, fold k trained on the rows of <paramref name="features"/> [N,D] that
    /// <paramref name="trainMasks"/>[k] (length N) selects — the same probes, to float rounding, as
    /// <see cref="Fit"/> on each fold's rows alone (same statistics, same initial weights, same Adam trajectory), in one
    /// fit that reads the features once per pass for all folds.
    /// <para>How: fold k's logits ((x − μ_k)/σ_k)W_kᵀ + b_k are x̂(W_k·s/σ_k)ᵀ − ((μ_k − c)/σ_k)W_kᵀ + b_k with
    /// x̂ = (x − c)/s standardised once with the statistics c, s of all the masked rows, so every fold's logits come from
    /// one product of x̂ with the folds' stacked (scaled) weights. The loss is the sum over folds of each fold's mean
    /// cross-entropy over its own training rows plus its own L2 term, so each fold's gradient is exactly its own; Adam is
    /// element-wise, so one Adam over the stacked [folds,classes,D] weights follows each fold's own trajectory; every fold
    /// starts from the same initial weights, the ones <see cref="Fit"/> draws. Rows are grouped by the set of folds that
    /// train on them (a k-fold: k groups, each read by the k−1 folds it trains), so no product is spent on a fold's test
    /// rows (more such sets than folds: one group, zero-weighted where a fold does not train). The gradient is written out
    /// by hand, not taken by autograd. A single fold is <see cref="Fit"/> itself.</para>
    /// </summary>
    public static LinearProbe[] FitFolds(Tensor features, Tensor labels, IReadOnlyList<bool[]> trainMasks, int classes, LinearProbeOptions? options = null)
    {
        options ??= new LinearProbeOptions();
        CheckShapes(features, labels);
        long n = features.shape[0], d = features.shape[1];
        int folds = trainMasks.Count;
        for (int k = 0; k < folds; k++)
        {
            if (trainMasks[k].Length != n) throw new ArgumentException($"train mask {k} has {trainMasks[k].Length} entries for {n} rows", nameof(trainMasks));
            if (!trainMasks[k].Contains(true)) throw new ArgumentException($"train mask {k} selects no rows", nameof(trainMasks));
        }
        if (folds == 0) return [];
        var rows = trainMasks.Select(m => Enumerable.Range(0, m.Length).Where(i => m[i]).Select(i => (long)i).ToArray()).ToArray();
        if (folds == 1)
        {
            using var index = tensor(rows[0], device: features.device);
            using var x = features.index_select(0, index);
            using var y = labels.index_select(0, index.to(labels.device));
            return [Fit(x, y, classes, options)];
        }

        var device = features.device;
        var stats = rows.Select(r => { using var i = tensor(r, device: device); using var x = features.index_select(0, i); return Statistics(x); }).ToArray();
        Tensor weight;
        using (var scope0 = NewDisposeScope())
            weight = Init(classes, d, options.Seed, device).unsqueeze(0).expand(folds, classes, d).contiguous().MoveToOuterDisposeScope();
        var bias = zeros(folds, classes, device: device);
        using (var scope = NewDisposeScope())
        {
            var used = tensor(Enumerable.Range(0, (int)n).Where(i => trainMasks.Any(m => m[i])).Select(i => (long)i).ToArray(), device: device);
            var (centre, scale) = Statistics(features.index_select(0, used));                    // x̂ = (x − c)/s
            var mean = stack(stats.Select(s => s.Mean));                                          // [K,D]
            var std = stack(stats.Select(s => s.Std));
            var gain = (scale / std).unsqueeze(1);                                                // s/σ_k [K,1,D]
            var shift = ((mean - centre) / std).unsqueeze(1);                                     // (μ_k − c)/σ_k [K,1,D]
            var shiftT = shift.transpose(1, 2).contiguous();                                      // [K,D,1]
            var blocks = Blocks(trainMasks, features, centre, scale, labels, classes);
            using var one = 1.ToScalar();                                                          // held: see LinearProbeAdam
            using var minusOne = (-1).ToScalar();
            using var decay = (2 * options.WeightDecay).ToScalar();
            Train(weight, bias, options, () =>
            {
                // The gradient by hand (the autograd graph of many small operations costs more than the products).
                using var _ = no_grad();
                var v = weight * gain;                                                            // [K,C,D]
                var offset = bias - weight.bmm(shiftT).squeeze(2);                                // [K,C]
                var gv = zeros_like(v);
                var gb = zeros_like(offset);
                foreach (var block in blocks)
                {
                    int f = (int)block.Folds.shape[0];
                    bool all = f == folds;
                    var vb = (all ? v : v.index_select(0, block.Folds)).view(f * classes, d);
                    var ob = (all ? offset : offset.index_select(0, block.Folds)).view(f * classes, 1);
                    // Logits transposed, [f,C,n] (the faster layout of both products here); softmax over the classes
                    // by hand (libtorch's is slow on so few); g: d loss / d logits.
                    var logits = addmm(ob, vb, block.X.t(), beta: 1, alpha: 1).view(f, classes, -1);
                    var e = (logits - logits.amax([1], keepdim: true)).exp_();
                    var g = (e / e.sum([1], keepdim: true) - block.OneHot) * block.Weight;
                    var gvb = g.view(f * classes, -1).mm(block.X).view(f, classes, d);
                    var gbb = g.sum(dim: 2);
                    if (all) { gv.add_(gvb, one); gb.add_(gbb, one); }
                    else { gv.index_add_(0, block.Folds, gvb, one); gb.index_add_(0, block.Folds, gbb, one); }
                }
                // logits = x̂ vᵀ + b − Σ_d shift·w with v = w·gain, plus the L2 term's 2·wd·w: in place, as every
                // temporary of the parameters' size costs more than the arithmetic.
                return (gv.mul_(gain).addcmul_(gb.unsqueeze(2), shift, minusOne).add_(weight, decay), gb);
            });
        }
        var probes = new LinearProbe[folds];
        using (var scope2 = NewDisposeScope())
            for (int k = 0; k < folds; k++)
                probes[k] = new LinearProbe(stats[k].Mean, stats[k].Std, weight[k].detach().clone().MoveToOuterDisposeScope(),
                                            bias[k].detach().clone().MoveToOuterDisposeScope());
        weight.Dispose();
        bias.Dispose();
        return probes;
    }

    /// <summary>
    /// The training rows grouped by the set of folds that train on them, each group with its features x̂ [n,D], one-hot
    /// labels [1,C,n], folds [f] and loss weights [f,1,n] (1/N_k on fold k's N_k rows, 0 elsewhere: fold k's mean). A k-fold
    /// or leave-one-fold-out gives k groups, each trained by k−1 folds; where the sets are more than the folds (a repeated
    /// k-fold, arbitrary masks) one group of every used row and every fold, zero-weighted where a fold does not train on a
    /// row, costs less than many small products.
    /// </summary>
    static List<(Tensor X, Tensor OneHot, Tensor Folds, Tensor Weight)> Blocks(IReadOnlyList<bool[]> masks, Tensor features, Tensor centre,
                                                                               Tensor scale, Tensor labels, int classes)
    {
        var device = features.device;
        int n = masks[0].Length, folds = masks.Count;
        var sizes = masks.Select(m => m.Count(t => t)).ToArray();
        var groups = Enumerable.Range(0, n).Where(i => masks.Any(m => m[i]))
            .GroupBy(i => string.Concat(masks.Select(m => m[i] ? '1' : '0')), StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()).ToList();
        if (groups.Count > folds) groups = [groups.SelectMany(g => g).Order().ToArray()];
        var blocks = new List<(Tensor, Tensor, Tensor, Tensor)>();
        foreach (var rows in groups)
        {
            var trained = Enumerable.Range(0, folds).Where(k => rows.Any(i => masks[k][i])).ToArray();
            using var index = tensor(rows.Select(i => (long)i).ToArray(), device: device);
            using var x = features.index_select(0, index).to(ScalarType.Float32);
            using var y = labels.to(ScalarType.Int64).index_select(0, index.to(labels.device)).to(device);
            var weight = new float[trained.Length * rows.Length];
            for (int j = 0; j < trained.Length; j++)
                for (int r = 0; r < rows.Length; r++)
                    weight[j * rows.Length + r] = masks[trained[j]][rows[r]] ? 1f / sizes[trained[j]] : 0f;
            blocks.Add((((x - centre) / scale).contiguous(),
                        nn.functional.one_hot(y, classes).to(ScalarType.Float32).t().unsqueeze(0).contiguous(),
                        tensor(trained.Select(k => (long)k).ToArray(), device: device),
                        tensor(weight, device: device).view(trained.Length, 1, rows.Length)));
        }
        return blocks;
    }

    static void CheckShapes(Tensor features, Tensor labels)
    {
        if (features.dim() != 2) throw new ArgumentException($"features must be [N,D], got [{string.Join(",", features.shape)}]");
        if (labels.shape[0] != features.shape[0]) throw new ArgumentException("features and labels differ in N");
    }

    /// <summary>Per-dimension mean and (biased) std + 1e-6 of features [N,D] in float32: what the probe standardises with.</summary>
    static (Tensor Mean, Tensor Std) Statistics(Tensor features)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = features.to(ScalarType.Float32);
        var mean = x.mean([0]).detach();
        var std = (x.std(0, unbiased: false) + 1e-6f).detach();
        return (mean.MoveToOuterDisposeScope(), std.MoveToOuterDisposeScope());
    }

    /// <summary>The initial weights [classes,d]: N(0, 0.01²) from a generator seeded with <paramref name="seed"/>.</summary>
    static Tensor Init(int classes, long d, int seed, Device device)
    {
        using var gen = new Generator((ulong)seed, device);
        using var init = randn([classes, d], generator: gen, device: device);
        return init * 0.01f;
    }

    /// <summary>Full-batch Adam (<see cref="LinearProbeAdam"/>: torch's, its defaults but the learning rate) over
    /// <paramref name="options"/>.Steps steps; <paramref name="gradients"/> gives the weight's and the bias's gradients of
    /// each step.</summary>
    static void Train(Tensor weight, Tensor bias, LinearProbeOptions options, Func<(Tensor Weight, Tensor Bias)> gradients)
    {
        using var adam = new LinearProbeAdam(options.LearningRate, weight, bias);
        for (int step = 0; step < options.Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            var (gw, gb) = gradients();
            adam.Step(gw, gb);
        }
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
