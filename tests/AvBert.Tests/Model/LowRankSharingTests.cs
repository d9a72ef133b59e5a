using AvBert.Config;
using AvBert.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

public class LowRankSharingTests
{
    static double OrthogonalityError(Tensor sigma) =>
        (sigma.t().mm(sigma) - eye(sigma.shape[0], dtype: sigma.dtype)).abs().max().item<float>();

    [Theory]
    [InlineData(OrthogonalMap.Expm)]
    [InlineData(OrthogonalMap.Cayley)]
    public void Sigma_is_orthogonal_for_any_parameter_value(OrthogonalMap map)
    {
        using var sigma = new OrthogonalMatrix(16, map);
        Assert.True(OrthogonalityError(sigma.forward()) < 1e-5);
        using (no_grad()) sigma.A.copy_(randn(16, 16) * 3);      // far from the start
        var s = sigma.forward();
        Assert.True(OrthogonalityError(s) < 1e-4, $"ΣᵀΣ − I = {OrthogonalityError(s):g3}");
        Assert.False(s.allclose(eye(16), 1e-3, 1e-3));
    }

    [Fact]
    public void Sigma_stays_orthogonal_while_the_model_trains()
    {
        torch.manual_seed(3);
        using var model = TinyModels.Build();
        var optimizer = optim.Adam(model.parameters(), lr: 0.1);
        var (visual, audio) = TinyModels.Inputs();
        for (int i = 0; i < 3; i++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            model.forward(visual, audio).Context.Multimodal!.pow(3).mean().backward();
            optimizer.step();
        }
        var sigmas = model.modules().OfType<OrthogonalMatrix>().ToList();
        Assert.Equal(6 * 3, sigmas.Count);    // 6 weights × 3 Transformers
        using var _ = no_grad();
        foreach (var s in sigmas)
        {
            Assert.True(OrthogonalityError(s.forward()) < 1e-5);
            Assert.True(s.A.triu(1).abs().max().item<float>() > 0);
        }
    }

    [Fact]
    public void Cayley_start_is_block_diagonal_with_minus_tan_half_angles()
    {
        using var sigma = new OrthogonalMatrix(7);
        var a = sigma.A.detach();
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 7; j++)
            {
                float v = a[i, j].item<float>();
                if (j == i + 1 && i % 2 == 0) Assert.InRange(v, -1f, 0f);          // −tan(θ/2), θ ∈ [0, π/2]
                else if (i == j + 1 && j % 2 == 0) Assert.Equal(-a[j, i].item<float>(), v);
                else Assert.Equal(0f, v);
            }
        // Σ of that start: 2×2 rotations on the diagonal, the odd last coordinate untouched.
        var s = sigma.forward();
        Assert.Equal(1f, s[6, 6].item<float>(), 5);
    }

    [Fact]
    public void Low_rank_linear_computes_U_normalize_Vx_Sigma_plus_b_with_private_factors()
    {
        torch.manual_seed(5);
        using var linear = new LowRankSharedLinear(8, 6, 4, ["visual", "audio"]);
        using (no_grad())
            foreach (var p in linear.parameters()) p.copy_(randn(p.shape));
        var x = randn(3, 5, 8);
        var visual = linear.For("visual").call(x);
        var audio = linear.For("audio").call(x);
        Tensor Expected(string t)
        {
            var f = linear.Factor(t);
            var h = x.matmul(f.V.weight!.t());
            h = h / h.norm(-1, keepdim: true);
            return h.matmul(f.Sigma.forward()).matmul(linear.U.weight!.t()) + linear.U.bias!;
        }
        Assert.Equal([3, 5, 6], visual.shape);
        Assert.True(visual.allclose(Expected("visual"), 1e-5, 1e-5));
        Assert.True(audio.allclose(Expected("audio"), 1e-5, 1e-5));
        Assert.False(visual.allclose(audio, 1e-3, 1e-3));
        // U and b are one tensor for both; V and Σ are not.
        var names = linear.named_parameters().Select(p => p.name).ToList();
        Assert.Equal(["private.visual.v.weight", "private.visual.sigma.a", "private.audio.v.weight", "private.audio.sigma.a", "u.weight", "u.bias"], names);
    }

    [Fact]
    public void Private_factors_change_only_their_own_Transformer()
    {
        torch.manual_seed(2);
        using var model = TinyModels.Build();
        model.eval();
        var (visual, audio) = TinyModels.Inputs();
        using var _ = no_grad();
        var before = model.forward(visual, audio).Context;
        foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains(".private.audio.v.")))
            p.add_(randn(p.shape) * 0.5);
        var after = model.forward(visual, audio).Context;
        Assert.True(after.Visual!.allclose(before.Visual!, 0, 0));      // the visual Transformer does not use audio's V
        Assert.False(after.Audio!.allclose(before.Audio!, 1e-4, 1e-4));
    }

    [Theory]
    [InlineData(0.01)]
    [InlineData(0.3)]
    [InlineData(3.0)]
    public void Matrix_exponential_matches_libtorch_in_value_and_gradient(double scale)
    {
        torch.manual_seed(6);
        var a = (randn(12, 12, dtype: float64) * scale).requires_grad_();
        var g = randn(12, 12, dtype: float64);
        var upper = a.triu(1);
        var ours = MatrixExponential.Expm(upper - upper.t());
        (ours * g).sum().backward();
        var ourGrad = a.grad!.clone();
        a.grad!.zero_();
        upper = a.triu(1);
        var exact = linalg.matrix_exp(upper - upper.t());
        (exact * g).sum().backward();
        Assert.True(ours.allclose(exact, 1e-9, 1e-9), $"max diff {(ours - exact).abs().max().item<double>():g3}");
        Assert.True(ourGrad.allclose(a.grad!, 1e-7, 1e-7), $"max grad diff {(ourGrad - a.grad!).abs().max().item<double>():g3}");
        // float32 at the paper's rank: orthogonal to float precision.
        var s32 = (randn(128, 128) * scale).triu(1);
        Assert.True(OrthogonalityError(MatrixExponential.Expm(s32 - s32.t())) < 1e-5);
    }

    [Fact]
    public void Inside_a_pass_each_sigma_is_computed_once()
    {
        using var sigma = new OrthogonalMatrix(8);
        Assert.False(ReferenceEquals(sigma.forward(), sigma.forward()));
        using (OrthogonalMatrix.Pass())
        {
            var first = sigma.forward();
            using (OrthogonalMatrix.Pass()) Assert.Same(first, sigma.forward());    // nested passes join
            Assert.Same(first, sigma.forward());
        }
        Assert.False(ReferenceEquals(sigma.forward(), sigma.forward()));
    }
}
