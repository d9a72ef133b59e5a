using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Training;

public enum OptimizerKind
{
    /// <summary>Decoupled weight decay (pretraining: AdamW with AMSGrad).</summary>
    AdamW,
    /// <summary>L2 weight decay added to the gradient (the reference's downstream optimiser).</summary>
    Adam,
}

/// <summary>Adam-family hyper-parameters shared by every group.</summary>
public sealed record AdamOptions
{
    public OptimizerKind Kind { get; init; } = OptimizerKind.AdamW;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.98;
    public double Eps { get; init; } = 1e-8;
    public bool AmsGrad { get; init; } = true;
    /// <summary>
    /// Parameters, gradients and moments as views into one flat buffer per dtype, updated by whole-buffer operations
    /// (<see cref="FusedAdam"/>); false: TorchSharp's per-tensor optimiser. Same numbers, same checkpoint format.
    /// </summary>
    public bool Fused { get; init; } = true;
}

/// <summary>One parameter group: its own base learning rate (scaled by the schedule) and weight decay.</summary>
public sealed record ParamGroupSpec(string Name, IReadOnlyList<(string Name, Parameter Param)> Parameters, double LearningRate, double WeightDecay);

/// <summary>
/// An Adam/AdamW optimiser over named parameter groups, with the schedule applied as a factor on each group's base
/// learning rate. Build groups with <see cref="DecayGroups"/> (nanoGPT rule: matrices and kernels decay; biases, norm
/// weights and other 1-D parameters do not). Frozen parameters (requires_grad false) are left out.
/// </summary>
public sealed class TrainingOptimizer : IDisposable
{
    readonly OptimizerHelper _optimizer;
    readonly List<ParamGroupSpec> _groups;
    readonly FusedAdam? _fused;

    TrainingOptimizer(OptimizerHelper optimizer, List<ParamGroupSpec> groups, FusedAdam? fused)
    {
        _optimizer = optimizer;
        _groups = groups;
        _fused = fused;
    }

    public static TrainingOptimizer Create(IEnumerable<ParamGroupSpec> groups, AdamOptions options)
    {
        var list = groups.Select(g => g with { Parameters = g.Parameters.Where(p => p.Param.requires_grad).ToList() })
                         .Where(g => g.Parameters.Count > 0).ToList();
        if (list.Count == 0) throw new ArgumentException("no trainable parameters");
        var dupes = list.SelectMany(g => g.Parameters).GroupBy(p => p.Param.Handle).Where(g => g.Count() > 1).Select(g => g.First().Name).ToList();
        if (dupes.Count > 0) throw new ArgumentException($"parameters in more than one group: {string.Join(", ", dupes.Take(5))}");
        OptimizerHelper opt = options.Kind switch
        {
            OptimizerKind.AdamW => optim.AdamW(list.Select(g => new AdamW.ParamGroup(g.Parameters.Select(p => p.Param),
                lr: g.LearningRate, beta1: options.Beta1, beta2: options.Beta2, eps: options.Eps, weight_decay: g.WeightDecay, amsgrad: options.AmsGrad))),
            OptimizerKind.Adam => optim.Adam(list.Select(g => new Adam.ParamGroup(g.Parameters.Select(p => p.Param),
                lr: g.LearningRate, beta1: options.Beta1, beta2: options.Beta2, eps: options.Eps, weight_decay: g.WeightDecay, amsgrad: options.AmsGrad))),
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        };
        return new TrainingOptimizer(opt, list, options.Fused ? new FusedAdam(list, options, opt) : null);
    }

    /// <summary>
    /// Splits named parameters into "&lt;prefix&gt;decay" (dim ≥ 2: weights of linear/conv layers, embedding tables) and
    /// "&lt;prefix&gt;no_decay" (dim ≤ 1: biases, BatchNorm/LayerNorm weights, BOS and mask vectors).
    /// </summary>
    public static IReadOnlyList<ParamGroupSpec> DecayGroups(IEnumerable<(string Name, Parameter Param)> named, double lr, double weightDecay,
                                                            string prefix = "", Func<string, Parameter, bool>? noDecay = null)
    {
        noDecay ??= (_, p) => p.dim() <= 1;
        var all = named.Where(p => p.Param.requires_grad).ToList();
        return
        [
            new ParamGroupSpec(prefix + "decay", all.Where(p => !noDecay(p.Name, p.Param)).ToList(), lr, weightDecay),
            new ParamGroupSpec(prefix + "no_decay", all.Where(p => noDecay(p.Name, p.Param)).ToList(), lr, 0.0),
        ];
    }

    public optim.Optimizer Optimizer => _optimizer;
    public IReadOnlyList<ParamGroupSpec> Groups => _groups;
    public IEnumerable<Parameter> Parameters => _groups.SelectMany(g => g.Parameters.Select(p => p.Param));

    /// <summary>Sets every group's learning rate to its base rate × <paramref name="factor"/>.</summary>
    public void SetLearningRateFactor(double factor)
    {
        int i = 0;
        foreach (var pg in _optimizer.ParamGroups)
            pg.LearningRate = _groups[i++].LearningRate * factor;
    }

    /// <summary>Current learning rate of each group, in group order.</summary>
    public double[] LearningRates => _optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();

    /// <summary>
    /// The flat gradient buffers (one per dtype; every parameter's <c>grad</c> is a view into one), for operations on all
    /// gradients at once (clipping, a data-parallel all-reduce); null without <see cref="AdamOptions.Fused"/>.
    /// </summary>
    public IReadOnlyList<Tensor>? GradientBuffers => _fused?.GradientBuffers;

    public void ZeroGrad()
    {
        if (_fused is not null) _fused.ZeroGrad();
        else _optimizer.zero_grad();
    }

    public void Step()
    {
        if (_fused is not null) _fused.Step(LearningRates);
        else _optimizer.step();
    }

    /// <summary>Writes the moments and step counts (TorchSharp's optimiser format; group order and sizes must match on load).</summary>
    public void Save(string path)
    {
        if (_fused is null) _optimizer.save_state_dict(path);
        else _fused.WithContiguousState(() => _optimizer.save_state_dict(path), load: false);
    }

    public void Load(string path)
    {
        try
        {
            if (_fused is null) _optimizer.load_state_dict(path);
            else _fused.WithContiguousState(() => _optimizer.load_state_dict(path), load: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or EndOfStreamException)
        {
            throw new Runtime.UserError($"{path}: optimiser state does not match this model's parameter groups ({e.Message}). " +
                                        "Fix: resume with the same config the run was started with.");
        }
    }

    public void Dispose()
    {
        _fused?.Dispose();
        _optimizer.Dispose();
    }
}
