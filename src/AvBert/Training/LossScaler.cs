using System.Globalization;
using AvBert.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>
/// Dynamic loss scaling for fp16 training (<c>train.precision: fp16</c>), as PyTorch's GradScaler: the loss is multiplied
/// by the scale before backward so that small gradients survive float16; after backward the gradients are divided by
/// it. A step whose gradients overflowed (a non-finite gradient norm) is skipped — weights and optimiser state stay as
/// they were — and the scale halves; after <see cref="GrowthInterval"/> good steps in a row it doubles. The scale and
/// the good-step count travel in every checkpoint (state.json's extra values) and come back on resume; the trainer
/// logs <c>loss_scale</c> and <c>skipped</c> (the fraction of skipped steps) with the other values.
/// Checking for the overflow reads one value back per step (the only host read of an fp16 step, as GradScaler's).
/// </summary>
public sealed class LossScaler
{
    public const double GrowthFactor = 2.0, BackoffFactor = 0.5;
    /// <summary>Overflows in a row after which the run is declared diverged (the scale has fallen by 2^this).</summary>
    public const int MaxConsecutiveSkips = 50;
    const string ScaleKey = "loss_scale", GoodStepsKey = "loss_scale_good_steps";

    public LossScaler(double initialScale = 65536.0, int growthInterval = 2000)
    {
        if (!(initialScale > 0) || !double.IsFinite(initialScale)) throw new ArgumentOutOfRangeException(nameof(initialScale));
        if (growthInterval < 1) throw new ArgumentOutOfRangeException(nameof(growthInterval));
        Scale = initialScale;
        GrowthInterval = growthInterval;
    }

    public static LossScaler From(TrainConfig train) => new(train.LossScaleInit, train.LossScaleGrowthInterval);

    /// <summary>The factor the next backward's loss is multiplied by.</summary>
    public double Scale { get; private set; }
    public int GrowthInterval { get; }
    /// <summary>Steps without an overflow since the scale last changed.</summary>
    public int GoodSteps { get; private set; }
    /// <summary>Steps skipped for an overflow in this process.</summary>
    public long SkippedSteps { get; private set; }
    int consecutiveSkips;

    /// <summary>loss × scale, to back-propagate.</summary>
    public Tensor ScaleLoss(Tensor loss)
    {
        using var factor = Scale.ToScalar();   // held: TorchSharp frees implicit Scalars from the finaliser (see docs/performance-and-gpu.md)
        return loss.mul(factor);
    }

    /// <summary>Divides the gradients by the scale in place (after backward and any all-reduce, before clipping).</summary>
    public void Unscale(TrainingOptimizer optimizer)
    {
        using var _ = no_grad();
        using var inverse = (1.0 / Scale).ToScalar();
        foreach (var g in optimizer.GradientBuffers?.ToList() ?? optimizer.Parameters.Where(p => p.grad is not null).Select(p => p.grad!).ToList())
            g.mul_(inverse);
    }

    /// <summary>What <see cref="Update"/> decided for one step.</summary>
    /// <param name="Skip">the gradients overflowed: do not step the optimiser</param>
    /// <param name="ScaleUsed">the scale this step's backward ran with</param>
    public sealed record Outcome(bool Skip, double ScaleUsed);

    /// <summary>
    /// After unscaling: whether the step overflowed (<paramref name="gradNorm"/>, the global norm of the unscaled
    /// gradients, is non-finite exactly when some gradient is), and the scale for the next step. Throws
    /// <see cref="TrainingDiverged"/> after <see cref="MaxConsecutiveSkips"/> overflows in a row.
    /// </summary>
    public Outcome Update(Tensor gradNorm, long step, string? resumeHint = null)
    {
        double used = Scale;
        bool overflow;
        using (var finite = isfinite(gradNorm)) overflow = !finite.cpu().item<bool>();   // host read: fp16 only, the one per step (as GradScaler's)
        if (overflow)
        {
            Scale *= BackoffFactor;
            GoodSteps = 0;
            SkippedSteps++;
            if (++consecutiveSkips >= MaxConsecutiveSkips)
                throw new TrainingDiverged(
                    $"training diverged at step {step}: fp16 gradients overflowed {consecutiveSkips} steps in a row (loss scale now {Scale:g3}). " +
                    "Fix: train with train.precision=bf16 where the GPU has it (else fp32), or lower the learning rate" +
                    $"{(resumeHint is null ? "" : $"; {resumeHint}")}.")
                { Step = step, Part = "grad_norm" };
        }
        else
        {
            consecutiveSkips = 0;
            if (++GoodSteps >= GrowthInterval)
            {
                Scale *= GrowthFactor;
                GoodSteps = 0;
            }
        }
        return new Outcome(overflow, used);
    }

    /// <summary>Writes the scale and the good-step count into a checkpoint's extra values.</summary>
    public void SaveTo(IDictionary<string, string> extra)
    {
        extra[ScaleKey] = Scale.ToString("R", CultureInfo.InvariantCulture);
        extra[GoodStepsKey] = GoodSteps.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Takes the scale and the good-step count back from a checkpoint's extra values (kept as they are when the
    /// checkpoint has none: one written without fp16).</summary>
    public void RestoreFrom(IReadOnlyDictionary<string, string> extra)
    {
        if (extra.TryGetValue(ScaleKey, out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var scale) &&
            scale > 0 && double.IsFinite(scale))
            Scale = scale;
        if (extra.TryGetValue(GoodStepsKey, out var g) && int.TryParse(g, NumberStyles.Integer, CultureInfo.InvariantCulture, out var good) && good >= 0)
            GoodSteps = good;
    }
}
