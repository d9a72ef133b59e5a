using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Downstream.Probing;

/// <summary>
/// The Adam of <see cref="LinearProbe"/>: TorchSharp's <c>optim.Adam</c> with its defaults (β1 0.9, β2 0.999, ε 1e-8, no
/// weight decay, no AMSGrad) but the learning rate, operation for operation — so the same numbers to the bit — except
/// that every scalar it hands libtorch is held until libtorch is done with it. TorchSharp turns each number argument into
/// a temporary native scalar that nothing keeps alive during the call: the GC may finalize it, on another thread's
/// allocation, while libtorch still reads it ("INTERNAL ASSERT FAILED at c10/core/Scalar.h", seen with probes fitted two
/// at a time). Element-wise, like every Adam: one over stacked parameters follows each slice's own trajectory.
/// </summary>
internal sealed class LinearProbeAdam : IDisposable
{
    const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
    readonly double _lr;
    readonly (Tensor Param, Tensor ExpAvg, Tensor ExpAvgSq)[] _state;
    readonly Scalar _beta1 = Beta1.ToScalar(), _oneMinusBeta1 = (1 - Beta1).ToScalar(), _beta2 = Beta2.ToScalar(),
                    _oneMinusBeta2 = (1 - Beta2).ToScalar(), _eps = Eps.ToScalar(), _one = 1.ToScalar();
    long _step;

    public LinearProbeAdam(double lr, params Tensor[] parameters)
    {
        _lr = lr;
        _state = parameters.Select(p => (p, zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope())).ToArray();
    }

    /// <summary>One step with these gradients, one per parameter in the constructor's order.</summary>
    public void Step(params Tensor[] gradients)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        _step++;
        double biasCorrection1 = 1 - Math.Pow(Beta1, _step), biasCorrection2 = 1 - Math.Pow(Beta2, _step);
        using var sqrtBiasCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
        using var negativeStepSize = (-(_lr / biasCorrection1)).ToScalar();
        for (int i = 0; i < _state.Length; i++)
        {
            var (param, expAvg, expAvgSq) = _state[i];
            var grad = gradients[i];
            expAvg.mul_(_beta1).add_(grad, _oneMinusBeta1);
            expAvgSq.mul_(_beta2).addcmul_(grad, grad, _oneMinusBeta2);
            var denom = expAvgSq.sqrt().div_(sqrtBiasCorrection2).add_(_eps, _one);
            param.addcdiv_(expAvg, denom, negativeStepSize);
        }
    }

    public void Dispose()
    {
        foreach (var (_, expAvg, expAvgSq) in _state)
        {
            expAvg.Dispose();
            expAvgSq.Dispose();
        }
        foreach (var s in new[] { _beta1, _oneMinusBeta1, _beta2, _oneMinusBeta2, _eps, _one }) s.Dispose();
    }
}
