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
/// TorchSharp's optimiser format. Each parameter keeps its memory order (channels-last convolution weights stay
/// channels-last): its views into the buffers have its strides, so element k of every buffer belongs to the same weight.
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
                var (shape, strides) = (p.shape, DenseStrides(p));
                var view = flat.Values.as_strided(shape, strides, offset);
                view.copy_(p.detach());
                p.set_(view);
                p.grad = flat.Grads.as_strided(shape, strides, offset);
                dynamic state = stateOf[p.Handle];
                ReplaceState(state, flat, offset, shape, strides);
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

    static void ReplaceState(dynamic state, Flat flat, long offset, long[] shape, long[] strides)
    {
        Tensor old1 = state.exp_avg, old2 = state.exp_avg_sq;
        Tensor? old3 = state.max_exp_avg_sq;
        state.exp_avg = flat.ExpAvg.as_strided(shape, strides, offset);
        state.exp_avg_sq = flat.ExpAvgSq.as_strided(shape, strides, offset);
        state.max_exp_avg_sq = flat.MaxExpAvgSq?.as_strided(shape, strides, offset);
        old1.Dispose(); old2.Dispose(); old3?.Dispose();
    }

    /// <summary>
    /// <paramref name="t"/>'s strides when it is dense in some memory order (contiguous, channels-last, ...), else the
    /// contiguous strides of its shape.
    /// </summary>
    internal static long[] DenseStrides(Tensor t)
    {
        var shape = t.shape;
        var strides = t.stride();
        var contiguous = new long[shape.Length];
        for (long i = shape.Length - 1, size = 1; i >= 0; size *= shape[i], i--) contiguous[i] = size;
        if (t.is_contiguous()) return contiguous;
        // Dense: ordered by stride (outermost first), each stride is the product of the sizes inside it.
        var order = Enumerable.Range(0, shape.Length).OrderByDescending(i => strides[i]).ThenBy(i => i).ToArray();
        long expected = 1;
        for (int k = order.Length - 1; k >= 0; k--)
        {
            int dim = order[k];
            if (shape[dim] != 1 && strides[dim] != expected) return contiguous;
            expected *= shape[dim];
        }
        return strides;
    }

    /// <summary>
    /// Runs <paramref name="io"/> (TorchSharp's optimiser save or load, which read and write state tensors as raw bytes
    /// and so need contiguous ones) with contiguous copies in place of the moments of parameters in another memory
    /// order; after a load the copies' values go back into the views. The file keeps TorchSharp's format either way.
    /// </summary>
    public void WithContiguousState(Action io, bool load)
    {
        var swaps = new List<(dynamic State, string Field, Tensor View, Tensor Copy)>();
        foreach (var slot in _slots)
        {
            if (slot.Param.is_contiguous()) continue;
            var state = slot.State;
            foreach (var field in new[] { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" })
            {
                Tensor? view = Get(state, field);
                if (view is null) continue;
                var copy = view.contiguous();
                Set(state, field, copy);
                swaps.Add((state, field, view, copy));
            }
        }
        try { io(); }
        finally
        {
            using var _ = no_grad();
            foreach (var (state, field, view, copy) in swaps)
            {
                Tensor? now = Get(state, field);           // a load may have put a new tensor there
                if (load && now is not null) view.copy_(now);
                Set(state, field, view);
                if (now is not null && !ReferenceEquals(now, copy)) now.Dispose();
                copy.Dispose();
            }
        }

        static Tensor? Get(dynamic state, string field) => field switch
        {
            "exp_avg" => state.exp_avg, "exp_avg_sq" => state.exp_avg_sq, _ => state.max_exp_avg_sq,
        };
        static void Set(dynamic state, string field, Tensor value)
        {
            if (field == "exp_avg") state.exp_avg = value;
            else if (field == "exp_avg_sq") state.exp_avg_sq = value;
            else state.max_exp_avg_sq = value;
        }
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
