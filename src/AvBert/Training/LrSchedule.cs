using AvBert.Config;

namespace AvBert.Training;

/// <summary>
/// A learning-rate schedule as a pure function of the optimiser step: a linear warm-up from 0 to 1 over
/// <see cref="WarmupSteps"/>, then a linear or cosine decay to <see cref="MinFactor"/> at <see cref="TotalSteps"/>
/// (or constant). Being a pure function, it resumes exactly: no scheduler state to save.
/// </summary>
public sealed record LrSchedule(LrScheduleKind Kind, long WarmupSteps, long TotalSteps, double MinFactor = 0.0)
{
    /// <summary>Multiplier of every group's base learning rate for the update made at <paramref name="step"/> (0-based).</summary>
    public double Factor(long step)
    {
        if (WarmupSteps > 0 && step < WarmupSteps) return (step + 1) / (double)WarmupSteps;
        if (Kind == LrScheduleKind.Constant) return 1.0;
        long decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((step - WarmupSteps) / (double)decaySteps, 0.0, 1.0);
        double shape = Kind == LrScheduleKind.Cosine ? 0.5 * (1 + Math.Cos(Math.PI * progress)) : 1.0 - progress;
        return MinFactor + (1 - MinFactor) * shape;
    }

    public static LrSchedule Constant => new(LrScheduleKind.Constant, 0, 1);
}
