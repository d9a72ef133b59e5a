using TorchSharp;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace AvBert.Training;

/// <summary>Gradient clipping and checks.</summary>
public static class GradientTools
{
    /// <summary>
    /// Clips the global ℓ2 norm of the gradients to <paramref name="maxNorm"/> (no clipping when ≤ 0) and returns the norm
    /// before clipping (one device sync). Parameters without a gradient are ignored.
    /// </summary>
    public static double ClipNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        var withGrad = parameters.Where(p => p.grad is not null).ToList();
        if (withGrad.Count == 0) return 0;
        if (maxNorm > 0) return nn.utils.clip_grad_norm_(withGrad, maxNorm);
        using var scope = NewDisposeScope();
        var norms = stack(withGrad.Select(p => p.grad!.detach().norm()).ToArray());
        return norms.norm().item<float>();
    }

    /// <summary>Sum of squared gradient entries of the named parameters whose name starts with <paramref name="prefix"/> (tests, diagnostics).</summary>
    public static double GradNorm(IEnumerable<(string Name, Parameter Param)> named, string prefix = "")
    {
        using var scope = NewDisposeScope();
        double total = 0;
        foreach (var (name, p) in named)
        {
            if (!name.StartsWith(prefix) || p.grad is null) continue;
            total += p.grad.detach().pow(2).sum().item<float>();
        }
        return Math.Sqrt(total);
    }
}
