using AvBert.Runtime;
using static TorchSharp.torch;

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

    /// <summary>The name of the first parameter of <paramref name="model"/> holding a NaN or ±Inf; null when all are finite.
    /// Reads every parameter back: for the error path only.</summary>
    public static string? FirstNonFiniteWeight(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            if (!isfinite(p).all().item<bool>()) return name;
        return null;
    }

    /// <summary>A libtorch error in a step whose weights had already turned non-finite (an op that refuses a NaN argument,
    /// before the next log point's check saw the loss): the run diverged, said as such rather than as an internal error.</summary>
    public static TrainingDiverged WeightsDiverged(long step, string weight, Exception libtorchError, string? resumeHint = null) =>
        new($"training diverged by step {step}: the weight '{weight}' is NaN or Inf, and libtorch stopped on it " +
            $"({libtorchError.Message.Split('\n')[0].Trim()}). Fix: lower the learning rate or raise the warm-up, keep gradient clipping on, " +
            $"and check the input data{(resumeHint is null ? "" : $"; {resumeHint}")}.")
        { Step = step, Part = weight };
}
