using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>The ranks of a data-parallel job, as the layers that compute across them see them: this rank's place and the
/// sum over all of them (Training/JobRanks connects it to the job's collectives).</summary>
public interface IRankGroup : IRankSum
{
    int Rank { get; }
    int Size { get; }
}

/// <summary>
/// The global batch on every rank (pretrain.sample_across_ranks, docs/scaling-out.md): each rank's rows gathered in rank
/// order, with a backward that sends each rank the gradient of its own rows summed over the ranks — so that the losses
/// of all ranks reach the embeddings they were computed from, as in one process on the whole batch. Built on the job's
/// all-reduce (each rank fills its own rows of a zero buffer and the ranks sum it): Size times the data of an
/// all-gather, a few hundred kB for a batch's clip embeddings, and the same code on MPI and NCCL.
/// </summary>
public static class RankGather
{
    /// <summary>[n, ...] on each rank (n the same on every rank) → [Size·n, ...], rank r's rows at r·n.</summary>
    public static Tensor AllGather(IRankGroup group, Tensor local) => GatherFunction.apply(group, local, "the batch's embeddings (a gather)");

    /// <summary>Rank 0's <paramref name="t"/> on every rank (same shape everywhere; integers up to 2^53 exactly), e.g. a
    /// random draw every rank must share. Not differentiable.</summary>
    public static Tensor FromRoot(IRankGroup group, Tensor t) =>
        Sum(group, group.Rank == 0 ? t : zeros_like(t), "a shared random draw");

    /// <summary>Σ over the ranks, differentiable: in backward each rank receives the gradient summed over the ranks (every
    /// rank's loss depends on every rank's part of the sum; SyncBatchNorm's moments).</summary>
    /// <param name="what">what is summed, for the collective's error and timeout messages</param>
    public static Tensor AllReduceSum(IRankSum group, Tensor t, string what) => SumFunction.apply(group, t, what);

    /// <summary>The sum over the ranks of a value without gradient (counts a loss is normalised by), in float64 on the wire.</summary>
    public static Tensor Sum(IRankGroup group, Tensor t, string what = "a count")
    {
        using var _ = no_grad();
        var wide = t.detach().to(float64).contiguous().clone();
        group.AllReduceSum(wide, $"all-reduce of {what}");
        return wide.to(t.dtype);
    }

    /// <summary>Stops with a message where the ranks hold batches of different sizes (the gather needs the same rows on
    /// every rank: a data source too small to fill a batch on each rank).</summary>
    public static void CheckSameRows(IRankGroup group, long rows, string what)
    {
        var n = tensor(new double[] { rows, (double)rows * rows }, float64);
        group.AllReduceSum(n, "all-reduce of the batch sizes");
        double sum = n[0].item<double>(), squares = n[1].item<double>();
        if (Math.Abs(sum * sum - group.Size * squares) > 0.5)
            throw new Runtime.UserError($"{what}: the ranks hold batches of different sizes ({sum:0} videos over {group.Size} ranks, {rows} " +
                                        $"on rank {group.Rank}), so their embeddings cannot be gathered. Fix: give each rank full batches " +
                                        "(more videos than pretrain.batch_size), or set pretrain.sample_across_ranks=false.");
    }

    /// <summary>Forward: the ranks' sum of (this rank's rows of a zero buffer, or the tensor itself); backward: the ranks'
    /// sum of the gradient (this rank's rows of it for a gather).</summary>
    abstract class RankSumFunction<T> : autograd.SingleTensorFunction<T> where T : RankSumFunction<T>, new()
    {
        protected abstract Tensor Input(IRankSum group, Tensor t);
        protected abstract Tensor Output(IRankSum group, Tensor gradSum);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (group, what) = ((IRankSum)vars[0], (string)vars[2]);
            ctx.save_data("group", group);
            ctx.save_data("what", what);
            var sum = Input(group, (Tensor)vars[1]);
            group.AllReduceSum(sum, $"all-reduce of {what}");
            return sum;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var group = (IRankSum)ctx.get_data("group");
            var sum = gradOutput.contiguous().clone();
            group.AllReduceSum(sum, $"all-reduce of the gradients of {(string)ctx.get_data("what")}");
            return [null!, Output(group, sum), null!]; // one per argument of apply: the group, the tensor, the name
        }
    }

    sealed class SumFunction : RankSumFunction<SumFunction>
    {
        public override string Name => "RankAllReduceSum";
        protected override Tensor Input(IRankSum group, Tensor t) => t.contiguous().clone();
        protected override Tensor Output(IRankSum group, Tensor gradSum) => gradSum;
    }

    sealed class GatherFunction : RankSumFunction<GatherFunction>
    {
        public override string Name => "RankAllGather";

        protected override Tensor Input(IRankSum group, Tensor local)
        {
            var g = (IRankGroup)group;
            long n = local.shape[0];
            var shape = local.shape.ToArray();
            shape[0] = n * g.Size;
            var all = zeros(shape, local.dtype, local.device);
            all.narrow(0, g.Rank * n, n).copy_(local);
            return all;
        }

        protected override Tensor Output(IRankSum group, Tensor gradSum)
        {
            var g = (IRankGroup)group;
            long n = gradSum.shape[0] / g.Size;
            return gradSum.narrow(0, g.Rank * n, n).contiguous();
        }
    }
}
