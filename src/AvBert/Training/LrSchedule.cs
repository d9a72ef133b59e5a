using AvBert.Config;

namespace AvBert.Training;

/// <summary>
/// A new horizon for the schedule's decay from step <paramref name="From"/> on (a run resumed with more or fewer
/// steps): the factor continues from the value the previous plan had at <paramref name="From"/> and decays to the
/// minimum at <paramref name="TotalSteps"/>, so the learning rate never jumps. The first entry of a run is (0, its steps).
/// </summary>
public sealed record LrReplan(long From, long TotalSteps);

/// <summary>
/// A learning-rate schedule as a pure function of the optimiser step: a linear warm-up from 0 to 1 over
/// <see cref="WarmupSteps"/>, then a linear or cosine decay to <see cref="MinFactor"/> at <see cref="TotalSteps"/>
/// (or constant). Being a pure function, it resumes exactly: no scheduler state to save besides <see cref="Replans"/>.
/// </summary>
public sealed record LrSchedule(LrScheduleKind Kind, long WarmupSteps, long TotalSteps, double MinFactor = 0.0)
{
    /// <summary>
    /// The horizons the run has had, oldest first (empty: just <see cref="TotalSteps"/>). Saved in every checkpoint so a
    /// resumed run follows exactly the schedule the run followed before.
    /// </summary>
    public IReadOnlyList<LrReplan> Replans { get; init; } = [];

    /// <summary>Multiplier of every group's base learning rate for the update made at <paramref name="step"/> (0-based).</summary>
    public double Factor(long step) => Factor(step, Replans.Count);

    double Factor(long step, int plans)
    {
        int i = plans - 1;
        while (i > 0 && Replans[i].From > step) i--;
        if (i <= 0 || Replans[i].From < WarmupSteps || Kind == LrScheduleKind.Constant)
            return Planned(step, i < 0 ? TotalSteps : Replans[i].TotalSteps);
        // Re-planned: from the previous plan's factor at From down to MinFactor at the new horizon.
        var r = Replans[i];
        double start = Factor(r.From, i);
        double progress = Math.Clamp((step - r.From) / (double)Math.Max(1, r.TotalSteps - r.From), 0.0, 1.0);
        return MinFactor + (start - MinFactor) * Shape(progress);
    }

    double Planned(long step, long totalSteps)
    {
        if (WarmupSteps > 0 && step < WarmupSteps) return (step + 1) / (double)WarmupSteps;
        if (Kind == LrScheduleKind.Constant) return 1.0;
        long decaySteps = Math.Max(1, totalSteps - WarmupSteps);
        double progress = Math.Clamp((step - WarmupSteps) / (double)decaySteps, 0.0, 1.0);
        return MinFactor + (1 - MinFactor) * Shape(progress);
    }

    double Shape(double progress) => Kind == LrScheduleKind.Cosine ? 0.5 * (1 + Math.Cos(Math.PI * progress)) : 1.0 - progress;

    /// <summary>
    /// This schedule as a run resumed at <paramref name="step"/> follows it, given the horizons saved so far
    /// (<paramref name="saved"/>; null or empty for checkpoints that predate them). A new horizon is appended when
    /// <see cref="TotalSteps"/> differs from the last saved one.
    /// </summary>
    public LrSchedule Resumed(long step, IReadOnlyList<LrReplan>? saved, out bool replanned)
    {
        replanned = false;
        if (saved is not { Count: > 0 }) return this with { Replans = [new LrReplan(0, TotalSteps)] };
        var plans = saved.ToList();
        if (plans[^1].TotalSteps != TotalSteps && Kind != LrScheduleKind.Constant)
        {
            plans.Add(new LrReplan(step, TotalSteps));
            replanned = true;
        }
        return this with { Replans = plans };
    }

    public static LrSchedule Constant => new(LrScheduleKind.Constant, 0, 1);
}
