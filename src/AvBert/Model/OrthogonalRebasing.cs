using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>
/// Dynamic trivialization (the reference's ORTHOGONAL_MODE dtriv, from expRNN's Parametrization): every K optimiser
/// steps (K = model.transformer.orthogonal_rebase_every; steps 0, K, 2K, …) each Σ = base·map(S − Sᵀ) is re-based,
/// base ← Σ and the free parameter ← 0, so the map is taken around the current point again; every
/// <see cref="ProjectEvery"/>-th re-basing also projects base back onto the orthogonal matrices (UVᵀ of its SVD).
/// The reference re-bases when the step's forward computes Σ, before the backward; the gradient still belongs to the
/// old parameter, and the optimiser then moves the zeroed one. Re-basing after the backward, before the optimiser
/// step, is the same computation. The schedule follows from the step number, so a resumed run re-bases as an
/// uninterrupted one.
/// </summary>
public static class OrthogonalRebasing
{
    /// <summary>Re-basings between projections (M = 100 in the reference's factor_linear.py).</summary>
    public const int ProjectEvery = 100;

    /// <summary>Re-bases every Σ of <paramref name="model"/> if <paramref name="step"/> (0-based) is a re-basing step.</summary>
    public static void Apply(AvBertModel model, long step)
    {
        int k = model.Config.Transformer.OrthogonalRebaseEvery;
        if (k <= 0 || step % k != 0) return;
        bool project = (step / k + 1) % ProjectEvery == 0;
        foreach (var (_, module) in model.named_modules())
            if (module is OrthogonalMatrix sigma) Rebase(sigma, project);
    }

    /// <summary>base ← Σ, parameter ← 0; with <paramref name="project"/>, base ← UVᵀ (the nearest orthogonal matrix).</summary>
    public static void Rebase(OrthogonalMatrix sigma, bool project)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var @base = sigma.named_buffers().Single(b => b.name == "base").buffer;
        var current = sigma.forward();
        if (project)
        {
            var (u, _, vh) = linalg.svd(current, fullMatrices: false);
            current = u.mm(vh);
        }
        @base.copy_(current);
        sigma.A.zero_();
    }
}
