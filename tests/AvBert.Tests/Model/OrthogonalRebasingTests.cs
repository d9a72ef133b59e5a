using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Training;
using AvBert.Tests.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>Dynamic trivialization (the reference's ORTHOGONAL_MODE dtriv) against hand-computed 2×2 rotations.</summary>
[Collection(TorchRngCollection.Name)]
public class OrthogonalRebasingTests
{
    /// <summary>expm([[0, θ], [−θ, 0]]) = [[cos θ, sin θ], [−sin θ, cos θ]].</summary>
    static Tensor Rotation(double theta) =>
        tensor(new[] { (float)Math.Cos(theta), (float)Math.Sin(theta), -(float)Math.Sin(theta), (float)Math.Cos(theta) }).reshape(2, 2);

    static Tensor Base(OrthogonalMatrix sigma) => sigma.named_buffers().Single(b => b.name == "base").buffer;

    static void SetAngle(OrthogonalMatrix sigma, double theta)
    {
        using var _ = no_grad();
        sigma.A.zero_();
        sigma.A[0, 1] = tensor((float)theta);
    }

    [Fact]
    public void Rebasing_moves_sigma_into_the_base_and_later_angles_compose_on_it()
    {
        using var sigma = new OrthogonalMatrix(2);
        SetAngle(sigma, 0.3);
        OrthogonalRebasing.Rebase(sigma, project: false);
        Assert.True(Base(sigma).allclose(Rotation(0.3), 1e-6, 1e-6));
        Assert.Equal(0f, sigma.A.abs().max().item<float>());
        Assert.True(sigma.forward().allclose(Rotation(0.3), 1e-6, 1e-6));     // Σ unchanged by re-basing

        SetAngle(sigma, 0.2);                                                 // as the optimiser would move it
        Assert.True(sigma.forward().allclose(Rotation(0.5), 1e-6, 1e-6));     // R(0.3)·R(0.2)
        OrthogonalRebasing.Rebase(sigma, project: false);
        Assert.True(Base(sigma).allclose(Rotation(0.5), 1e-6, 1e-6));
    }

    [Fact]
    public void Every_hundredth_rebasing_projects_the_base_back_onto_the_orthogonal_matrices()
    {
        var cfg = TinyModels.Model();
        cfg = cfg with { Transformer = cfg.Transformer with { OrthogonalRebaseEvery = 3 } };
        using var model = new AvBertModel(cfg, TinyModels.Data);
        var sigmas = model.modules().OfType<OrthogonalMatrix>().ToList();
        Assert.NotEmpty(sigmas);
        using (no_grad()) foreach (var s in sigmas) Base(s).mul_(2);           // drifted off the manifold: 2·Σ
        var drifted = sigmas.Select(s => s.forward().detach().clone()).ToList();

        OrthogonalRebasing.Apply(model, 4);                                    // not a re-basing step
        Assert.All(sigmas, s => Assert.NotEqual(0f, s.A.abs().max().item<float>()));
        OrthogonalRebasing.Apply(model, 3);                                    // re-basing 2: no projection
        for (int i = 0; i < sigmas.Count; i++) Assert.True(Base(sigmas[i]).allclose(drifted[i], 1e-6, 1e-6));
        OrthogonalRebasing.Apply(model, 99 * 3);                               // re-basing 100: base = UVᵀ of 2·Σ = Σ
        for (int i = 0; i < sigmas.Count; i++)
            Assert.True(Base(sigmas[i]).allclose(drifted[i] / 2, 1e-5, 1e-5));
    }

    [Fact]
    public void Training_rebases_before_the_optimiser_step_so_the_update_starts_from_zero()
    {
        var cfg = TinyModels.Model();
        cfg = cfg with { Transformer = cfg.Transformer with { OrthogonalRebaseEvery = 2, HiddenDropout = 0, AttentionDropout = 0 } };
        manual_seed(5);
        using var model = new AvBertModel(cfg, TinyModels.Data);
        var sigmas = model.modules().OfType<OrthogonalMatrix>().ToList();
        var initial = sigmas.Select(s => s.forward().detach().clone()).ToList();
        using var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(model.named_parameters(), 1e-2, 0), new AdamOptions());
        var options = new TrainerOptions
        {
            Steps = 1, Seed = 1, LogEvery = 1, CheckpointEvery = 0, Progress = ProgressMode.Off, PlotCurves = false, TensorBoard = false,
            BeforeOptimizerStep = step => OrthogonalRebasing.Apply(model, step),
        };
        var (xv, xa, w) = (randn(2, 2, 16), randn(2, 2, 16), randn(2, 6, 16));
        new Trainer(model, opt, new LrSchedule(LrScheduleKind.Constant, 0, 1), options, TestSetup.TempDir("rebase"))
            .Run(_ => Enumerable.Repeat(0, 10), _ =>
            {
                var y = model.Contextualize(xv, xa).Multimodal!;
                return new StepOutput((y * w).sum(), new Dictionary<string, Tensor>(), 1);
            });
        for (int i = 0; i < sigmas.Count; i++)
        {
            // Step 0 re-based (base = Σ before training), then Adam moved the zeroed parameter by about lr per entry.
            Assert.True(Base(sigmas[i]).allclose(initial[i], 1e-6, 1e-6));
            Assert.InRange(sigmas[i].A.abs().max().item<float>(), 1e-4, 2e-2);
        }
    }
}
