using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>
/// Adam/AdamW (with AMSGrad) as whole-buffer operations. Every trained parameter, its gradient and its three moments are
/// views into one flat buffer per dtype (parameters ordered by group, so each group is one contiguous range): backward
/// accumulates into the views in place, zeroing is one kernel, and a step is about ten kernels per dtype plus two per
/// group instead of ten per parameter tensor. The arithmetic is TorchSharp's AdamW/Adam step in the same order, so the
/// result equals it. The moments stay inside TorchSharp's optimiser state objects (as views), so checkpoints keep
/// TorchSharp's optimiser format.
/// <para>Difference to TorchSharp: a parameter that never got a gradient is still updated (with a zero gradient), as
/// every parameter of the flat buffer is; AVBERT's trained parameters all get gradients.</para>
/// </summary>
sealed class FusedAdam : IDisposable
{
    sealed record Range(int Group, long Start, long Length);

    sealed class Flat : IDisposable
    {
        public required Tensor Values, Grads, ExpAvg, ExpAvgSq;
        public Tensor? MaxExpAvgSq;
        public required List<Range> Ranges;
        public void Dispose()
        {
            Grads.Dispose(); ExpAvg.Dispose(); ExpAvgSq.Dispose(); MaxExpAvgSq?.Dispose();
            // Values stays alive: the parameters are views of it (they hold their own references).
            Values.Dispose();
        }
    }

    sealed record Slot(Parameter Param, Flat Buffer, long Start, dynamic State);

    readonly List<Flat> _buffers = [];
    readonly List<Slot> _slots = [];
    readonly AdamOptions _o;
    readonly double[] _weightDecay;

    /// <param name="groups">Parameter groups in the order of <paramref name="container"/>'s groups.</param>
    /// <param name="container">TorchSharp's optimiser over the same groups: its state objects keep the moments for checkpoints.</param>
    public FusedAdam(IReadOnlyList<ParamGroupSpec> groups, AdamOptions options, OptimizerHelper container)
    {
        _o = options;
        _weightDecay = groups.Select(g => g.WeightDecay).ToArray();
        var states = container.state_dict().State;
        var ordered = groups.SelectMany((g, gi) => g.Parameters.Select(p => (Group: gi, p.Param))).ToList();
        if (states.Count != ordered.Count) throw new InvalidOperationException("optimiser state does not match the parameters");
        using var _ = no_grad();
        int stateIndex = 0;
        var stateOf = ordered.ToDictionary(x => x.Param.Handle, _ => (object)states[stateIndex++]);
        foreach (var byType in ordered.GroupBy(x => (x.Param.dtype, x.Param.device.ToString())))
        {
            var members = byType.OrderBy(x => x.Group).ToList();   // stable: group order, then the group's own order
            long total = members.Sum(x => x.Param.numel());
            var first = members[0].Param;
            var flat = new Flat
            {
                Values = empty(total, dtype: first.dtype, device: first.device),
                Grads = zeros(total, dtype: first.dtype, device: first.device),
                ExpAvg = zeros(total, dtype: first.dtype, device: first.device),
                ExpAvgSq = zeros(total, dtype: first.dtype, device: first.device),
                MaxExpAvgSq = options.AmsGrad ? zeros(total, dtype: first.dtype, device: first.device) : null,
                Ranges = [],
            };
            long offset = 0;
            foreach (var (group, p) in members)
            {
                long n = p.numel();
                var shape = p.shape;
                var slice = flat.Values.narrow(0, offset, n);
                slice.copy_(p.detach().reshape(-1));
                p.set_(slice.view(shape));
                p.grad = flat.Grads.narrow(0, offset, n).view(shape);
                dynamic state = stateOf[p.Handle];
                ReplaceState(state, flat, offset, n, shape);
                _slots.Add(new Slot(p, flat, offset, state));
                if (flat.Ranges.Count > 0 && flat.Ranges[^1].Group == group)
                    flat.Ranges[^1] = flat.Ranges[^1] with { Length = flat.Ranges[^1].Length + n };
                else
                    flat.Ranges.Add(new Range(group, offset, n));
                offset += n;
            }
            _buffers.Add(flat);
        }
    }

    static void ReplaceState(dynamic state, Flat flat, long offset, long n, long[] shape)
    {
        Tensor old1 = state.exp_avg, old2 = state.exp_avg_sq;
        Tensor? old3 = state.max_exp_avg_sq;
        state.exp_avg = flat.ExpAvg.narrow(0, offset, n).view(shape);
        state.exp_avg_sq = flat.ExpAvgSq.narrow(0, offset, n).view(shape);
        state.max_exp_avg_sq = flat.MaxExpAvgSq?.narrow(0, offset, n).view(shape);
        old1.Dispose(); old2.Dispose(); old3?.Dispose();
    }

    /// <summary>The flat gradient buffers (one per dtype): what a data-parallel run all-reduces.</summary>
    public IReadOnlyList<Tensor> GradientBuffers => _buffers.Select(b => b.Grads).ToList();

    public void ZeroGrad()
    {
        foreach (var b in _buffers) b.Grads.zero_();
    }

    /// <summary>One step with the learning rate of each group (index = group).</summary>
    public void Step(double[] learningRates)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Steps are counted per parameter in the checkpoint format; they are equal unless a checkpoint written by
        // TorchSharp's own AdamW skipped parameters without gradients: then the exact per-parameter path runs.
        long step = (long)_slots[0].State.step;
        bool same = _slots.All(s => (long)s.State.step == step);
        foreach (var s in _slots) s.State.step = (long)s.State.step + 1;
        if (!same)
        {
            foreach (var s in _slots) StepOne(s, learningRates);
            return;
        }
        step++;
        double beta1 = _o.Beta1, beta2 = _o.Beta2;
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        foreach (var b in _buffers)
        {
            var grads = b.Grads;
            if (_o.Kind == OptimizerKind.Adam && _weightDecay.Any(w => w != 0))
            {
                grads = grads.clone();
                foreach (var r in b.Ranges)
                    if (_weightDecay[r.Group] != 0)
                        grads.narrow(0, r.Start, r.Length).add_(b.Values.narrow(0, r.Start, r.Length), alpha: _weightDecay[r.Group]);
            }
            else if (_o.Kind == OptimizerKind.AdamW)
            {
                foreach (var r in b.Ranges)
                    b.Values.narrow(0, r.Start, r.Length).mul_(1 - learningRates[r.Group] * _weightDecay[r.Group]);
            }
            b.ExpAvg.mul_(beta1).add_(grads, alpha: 1 - beta1);
            b.ExpAvgSq.mul_(beta2).addcmul_(grads, grads, value: 1 - beta2);
            Tensor second = b.ExpAvgSq;
            if (b.MaxExpAvgSq is { } max)
            {
                max.copy_(maximum(max, b.ExpAvgSq));
                second = max;
            }
            var denom = (second.sqrt() / Math.Sqrt(bc2)).add_(_o.Eps);
            foreach (var r in b.Ranges)
                b.Values.narrow(0, r.Start, r.Length).addcdiv_(b.ExpAvg.narrow(0, r.Start, r.Length), denom.narrow(0, r.Start, r.Length),
                                                              value: -learningRates[r.Group] / bc1);
        }
    }

    /// <summary>TorchSharp's per-parameter step (used only when the parameters' step counts differ).</summary>
    void StepOne(Slot s, double[] learningRates)
    {
        long step = (long)s.State.step;
        int group = s.Buffer.Ranges.First(r => s.Start >= r.Start && s.Start < r.Start + r.Length).Group;
        double lr = learningRates[group], wd = _weightDecay[group], beta1 = _o.Beta1, beta2 = _o.Beta2;
        var p = s.Param;
        var grad = p.grad!;
        if (_o.Kind == OptimizerKind.AdamW) p.mul_(1 - lr * wd);
        else if (wd != 0) grad = grad.add(p, alpha: wd);
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        Tensor expAvg = s.State.exp_avg, expAvgSq = s.State.exp_avg_sq;
        Tensor? max = s.State.max_exp_avg_sq;
        expAvg.mul_(beta1).add_(grad, alpha: 1 - beta1);
        expAvgSq.mul_(beta2).addcmul_(grad, grad, value: 1 - beta2);
        if (max is not null) max.copy_(maximum(max, expAvgSq));
        var denom = ((max ?? expAvgSq).sqrt() / Math.Sqrt(bc2)).add_(_o.Eps);
        p.addcdiv_(expAvg, denom, value: -lr / bc1);
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
    }
}
