using AvBert.Runtime;

namespace AvBert.Training;

/// <summary>Training produced NaN or Inf: names the step and the loss part; the run stops instead of writing garbage.</summary>
public sealed class TrainingDiverged(string message) : UserError(message)
{
    public long Step { get; init; }
    public string Part { get; init; } = "";
    public override int ExitCode => ExitCodes.Diverged;
}

/// <summary>Stops a run at the first non-finite loss part or gradient norm, with a message saying what to do.</summary>
public static class NonFiniteGuard
{
    /// <summary>Throws <see cref="TrainingDiverged"/> when any value is NaN or ±Inf.</summary>
    public static void Check(long step, IReadOnlyDictionary<string, double> values, string? resumeHint = null)
    {
        foreach (var (name, v) in values)
        {
            if (double.IsFinite(v)) continue;
            var what = double.IsNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
            throw new TrainingDiverged(
                $"training diverged at step {step}: '{name}' is {what}. Fix: lower the learning rate or raise the warm-up, " +
                $"keep gradient clipping on, and check the input data{(resumeHint is null ? "" : $"; {resumeHint}")}.")
            { Step = step, Part = name };
        }
    }
}
