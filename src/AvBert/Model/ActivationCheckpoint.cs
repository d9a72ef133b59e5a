using System.Reflection;
using AvBert.Config;
using AvBert.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>How a CNN checkpoints (<see cref="ActivationCheckpoint"/>): not at all, each stage (and stem), or each residual block (and stem).</summary>
public enum CnnCheckpoint { None, Stages, Blocks }

/// <summary>A CNN whose stems and stages or blocks can recompute their activations in backward.</summary>
public interface ICheckpointedCnn
{
    CnnCheckpoint Checkpoint { get; set; }
}

/// <summary>
/// Activation checkpointing (<see cref="TrainConfig.CheckpointActivations"/>; docs/performance-and-gpu.md, "Memory"): a
/// segment runs its forward without recording a graph, keeps only its input, and in backward runs its forward again
/// with the graph and back-propagates through it (TorchSharp 0.107 has no torch.utils.checkpoint, so this is a custom
/// autograd function). The recomputation is exact: BatchNorm's running statistics are put back after it (the forward
/// already updated them once), the random state the segment started from is restored for it (dropout draws the same
/// masks; on CUDA, whose generator TorchSharp cannot read, the segment runs from a seed drawn on the CPU generator and
/// the recomputation reseeds with it), and it runs under the forward's autocast dtype.
/// </summary>
public static class ActivationCheckpoint
{
    /// <summary>Sets how every CNN and Transformer stack under <paramref name="root"/> checkpoints, as <paramref name="mode"/> says.</summary>
    public static void Apply(nn.Module root, CheckpointActivations mode)
    {
        var cnn = mode switch
        {
            CheckpointActivations.Cnn or CheckpointActivations.All => CnnCheckpoint.Stages,
            CheckpointActivations.CnnBlocks => CnnCheckpoint.Blocks,
            _ => CnnCheckpoint.None,
        };
        bool transformer = mode is CheckpointActivations.Transformer or CheckpointActivations.All;
        foreach (var m in root.modules().Prepend(root))
        {
            if (m is ICheckpointedCnn c) c.Checkpoint = cnn;
            if (m is TransformerEncoder t) t.CheckpointSegments = transformer;
        }
    }

    /// <summary><paramref name="segment"/>(<paramref name="input"/>), checkpointed: <paramref name="owner"/> holds every
    /// parameter and buffer the segment uses. For segments without random ops (CNN stages).</summary>
    public static Tensor Run(Func<Tensor, Tensor> segment, Tensor input, nn.Module owner) =>
        Run((x, _) => segment(x), input, owner, [], random: false);

    /// <summary>
    /// <paramref name="segment"/>(<paramref name="input"/>, <paramref name="captured"/>), checkpointed.
    /// <paramref name="captured"/> are tensors computed outside the segment that it uses and that need gradients (the
    /// Transformers' Σ): the recomputation gets detached copies and their gradients flow back to the originals.
    /// <paramref name="random"/>: the segment draws random numbers (dropout), so the recomputation replays them.
    /// Without a graph to record (no_grad, nothing requires grad) the segment simply runs.
    /// </summary>
    public static Tensor Run(Func<Tensor, IReadOnlyList<Tensor>, Tensor> segment, Tensor input, nn.Module owner,
                             IReadOnlyList<Tensor> captured, bool random)
    {
        var parameters = owner.parameters().Where(p => p.requires_grad).Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().ToArray();
        if (!is_grad_enabled() || !(input.requires_grad || parameters.Length > 0 || captured.Any(c => c.requires_grad)))
            return segment(input, captured);
        var s = new Segment(segment, owner, parameters, captured.Count, random, input.device);
        object[] args = [s, input, .. parameters, .. captured];
        var output = Recompute.apply(args);
        s.ReleaseOutputCache();
        return output;
    }

    // Gradients handed back to libtorch by the previous backward on this thread: libtorch copies them once the callback
    // returns, so they are freed at the next one (the last few stay until the next step's first).
    [ThreadStatic] static List<Tensor>? returned;

    static void ReleaseReturned()
    {
        if (returned is null) return;
        foreach (var t in returned) t.Dispose();
        returned.Clear();
    }

    sealed class Segment(Func<Tensor, IReadOnlyList<Tensor>, Tensor> body, nn.Module owner, Tensor[] parameters, int capturedCount,
                         bool random, Device device)
    {
        public Func<Tensor, IReadOnlyList<Tensor>, Tensor> Body => body;
        public int ParameterCount => parameters.Length;
        public int CapturedCount => capturedCount;
        public autograd.AutogradContext? Context { get; set; }
        Tensor? cpuRandomState;
        long cudaSeed;
        ScalarType? autocast;

        /// <summary>Before the forward: what the recomputation must reproduce (random state, autocast dtype).</summary>
        public void BeginForward()
        {
            autocast = Autocast.ActiveDtype(device);
            if (!random) return;
            if (device.type == DeviceType.CPU) cpuRandomState = RandomState();
            else
            {
                using var draw = randint(long.MaxValue, [1], dtype: int64);
                cudaSeed = draw.item<long>();   // host read: a CPU tensor (no device sync), the segment's seed on the accelerator
                cuda.manual_seed(cudaSeed);
            }
        }

        static Tensor RandomState() => torch.random.get_rng_state().DetachFromDisposeScope();

        /// <summary>The gradients of the segment's inputs (in apply's argument order; null where none) for <paramref name="gradOutput"/>.</summary>
        public List<Tensor> Backward(List<Tensor> saved, Tensor gradOutput)
        {
            using var scope = NewDisposeScope();
            var input = saved[0];
            var x = input.detach().requires_grad_(input.requires_grad);
            var captured = saved.Skip(1).Select(c => c.detach().requires_grad_(c.requires_grad)).ToList();
            // BatchNorm's statistics go back after the gradients: the recomputed graph saved them at their new version.
            using var statistics = KeepBatchNormStatistics();
            Tensor y;
            using (enable_grad())
            using (ReplayRandom())
            using (autocast is { } dtype ? Autocast.Enter(device, dtype) : null)
                y = body(x, captured);

            // What needs a gradient, and where it goes in the argument list [segment, input, parameters…, captured…].
            var wrt = new List<(Tensor Tensor, int Slot)>();
            if (x.requires_grad) wrt.Add((x, 1));
            for (int i = 0; i < parameters.Length; i++) wrt.Add((parameters[i], 2 + i));
            for (int i = 0; i < captured.Count; i++)
                if (captured[i].requires_grad) wrt.Add((captured[i], 2 + parameters.Length + i));
            var result = new List<Tensor>(new Tensor[2 + parameters.Length + captured.Count]);   // null: no gradient
            if (wrt.Count == 0 || !y.requires_grad) return result;
            var grads = autograd.grad([y], wrt.Select(w => w.Tensor).ToList(), [gradOutput], allow_unused: true);
            returned ??= [];
            for (int i = 0; i < wrt.Count; i++)
            {
                if (grads[i].IsInvalid) continue;
                result[wrt[i].Slot] = grads[i].DetachFromDisposeScope();
                returned.Add(grads[i]);
            }
            return result;
        }

        IDisposable? ReplayRandom()
        {
            if (!random) return null;
            if (device.type != DeviceType.CPU)
            {
                cuda.manual_seed(cudaSeed);
                return null;
            }
            var now = RandomState();
            torch.random.set_rng_state(cpuRandomState!);
            return new Restore(() =>
            {
                torch.random.set_rng_state(now);
                now.Dispose();
            });
        }

        /// <summary>Puts the owner's BatchNorm running statistics and counts back as they were when disposed (only those:
        /// other buffers, e.g. an orthogonal map's base, are used by the graph outside and must keep their version).</summary>
        IDisposable KeepBatchNormStatistics()
        {
            var buffers = owner.modules().Prepend(owner).OfType<TorchSharp.Modules.BatchNorm>().SelectMany(m => m.buffers()).ToArray();
            var before = buffers.Select(b => b.detach().clone().DetachFromDisposeScope()).ToArray();
            return new Restore(() =>
            {
                using var _ = no_grad();
                for (int i = 0; i < buffers.Length; i++)
                {
                    buffers[i].copy_(before[i]);
                    before[i].Dispose();
                }
            });
        }

        /// <summary>
        /// TorchSharp 0.107's node keeps an uninitialised tensor the size of each output (to materialise missing output
        /// gradients, which this function turns off): as large as the activation it replaces. Freed here, right after apply.
        /// </summary>
        public void ReleaseOutputCache()
        {
            if (Context is null || NodeField?.GetValue(Context) is not { } node) return;
            if (node.GetType().GetField("_outputCache", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(node) is not List<Tensor> cache) return;
            for (int i = 0; i < cache.Count; i++)
            {
                cache[i]?.Dispose();
                cache[i] = null!;
            }
            OutputCacheReleased = true;
        }

        public void ReleaseState()
        {
            cpuRandomState?.Dispose();
            cpuRandomState = null;
        }
    }

    static readonly FieldInfo? NodeField = typeof(autograd.AutogradContext).GetField("_node", BindingFlags.NonPublic | BindingFlags.Instance);

    /// <summary>Whether the output-cache release found TorchSharp's private fields (tests: it must, else memory doubles silently).</summary>
    internal static bool OutputCacheReleased { get; private set; }

    sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    sealed class Recompute : autograd.SingleTensorFunction<Recompute>
    {
        const string Key = "segment";
        public override string Name => "ActivationCheckpoint";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var s = (Segment)vars[0];
            var input = (Tensor)vars[1];
            var captured = vars.Skip(2 + s.ParameterCount).Cast<Tensor>().ToList();
            ctx.save_for_backward([input, .. captured]);
            ctx.save_data(Key, s);
            ctx.set_materialize_grads(false);
            s.Context = ctx;
            s.BeginForward();
            return s.Body(input, captured);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            ReleaseReturned();
            var s = (Segment)ctx.get_data(Key);
            var saved = ctx.get_saved_variables();
            try
            {
                return s.Backward(saved, gradOutput);
            }
            finally
            {
                foreach (var t in saved) t.Dispose();
                gradOutput.Dispose();
                s.ReleaseState();
            }
        }
    }
}
