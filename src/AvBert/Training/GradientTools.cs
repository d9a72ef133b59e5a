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

    /// <summary>
    /// Clips the global ℓ2 norm of the gradients to <paramref name="maxNorm"/> (no clipping when ≤ 0) on the device, without
    /// reading anything back: the norm is computed on the flat gradient buffers when the optimiser has them (else per
    /// tensor), and every gradient is scaled by min(1, maxNorm / (norm + 1e-6)) as a device tensor (PyTorch's rule).
    /// Returns the norm before clipping as a 0-dim float32 tensor on the device.
    /// </summary>
    public static Tensor ClipNormOnDevice(TrainingOptimizer optimizer, double maxNorm)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var grads = optimizer.GradientBuffers?.ToList()
                    ?? optimizer.Parameters.Where(p => p.grad is not null).Select(p => p.grad!).ToList();
        if (grads.Count == 0) return zeros([]).MoveToOuterDisposeScope();
        var total = grads.Count == 1 ? grads[0].norm().to(float32) : stack(grads.Select(g => g.norm().to(float32)).ToArray()).norm();
        if (maxNorm > 0)
        {
            var coef = ((total + 1e-6).reciprocal() * maxNorm).clamp_max(1.0);
            foreach (var g in grads) g.mul_(coef.to(g.dtype));
        }
        return total.MoveToOuterDisposeScope();
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
