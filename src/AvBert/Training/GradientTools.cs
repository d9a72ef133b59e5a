using TorchSharp;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace AvBert.Training;

/// <summary>Gradient clipping and checks.</summary>
public static class GradientTools
{
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
            total += p.grad.detach().pow(2).sum().item<float>();   // host read: tests and diagnostics only
        }
        return Math.Sqrt(total);
    }
}
