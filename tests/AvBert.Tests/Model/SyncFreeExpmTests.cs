using AvBert.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public class SyncFreeExpmTests
{
    static Tensor Skew(int n, double scale, long seed)
    {
        var g = new Generator((ulong)seed);
        var upper = (randn([n, n], generator: g) * scale).triu(1);
        return upper - upper.t();
    }

    [Theory]
    [InlineData(8)]
    [InlineData(64)]
    public void Sync_free_batched_exponential_equals_the_adaptive_one_within_1e6(int n)
    {
        // Norms from the order-3 branch to several squarings, in one batch.
        double[] scales = [1e-3, 0.02, 0.1, 0.5, 2, 8];
        var skews = scales.Select((s, i) => Skew(n, s / Math.Sqrt(n), 100 + i)).ToArray();
        var batched = MatrixExponential.ExpmSyncFree(stack(skews));
        for (int i = 0; i < skews.Length; i++)
        {
            var today = MatrixExponential.Expm(skews[i]);
            double diff = (batched[i] - today).abs().max().item<float>();
            Assert.True(diff <= 1e-6, $"scale {scales[i]}: max |Δ| = {diff:g3}");
        }
        // The largest one needed squarings (the check covers the scaling path, not only s = 0).
        Assert.True(skews[^1].abs().sum().item<float>() > 10);
    }

    [Fact]
    public void Sync_free_gradient_equals_the_adaptive_one()
    {
        var a = (Skew(16, 0.4, 5) * 1).requires_grad_();
        var g = randn(16, 16, generator: new Generator(9));
        (MatrixExponential.Expm(a) * g).sum().backward();
        var expected = a.grad!.clone();
        a.grad!.zero_();
        (MatrixExponential.ExpmSyncFree(a) * g).sum().backward();
        Assert.True(a.grad!.allclose(expected, rtol: 1e-4, atol: 1e-5), $"max grad diff {(a.grad! - expected).abs().max().item<float>():g3}");
    }

    [Fact]
    public void Batched_pass_over_all_transformers_gives_the_same_forward_as_one_matrix_at_a_time()
    {
        torch.manual_seed(3);
        var model = TinyModels.Build();
        model.eval();
        using (no_grad())
            foreach (var o in model.modules().OfType<OrthogonalMatrix>())
                o.A.add_(randn_like(o.A) * 0.3);          // away from the block-diagonal start
        var (v, a) = TinyModels.Inputs();
        var xv = model.EncodeVisual(v);
        var xa = model.EncodeAudio(a);
        var expected = model.Contextualize(xv, xa).Multimodal!;
        Assert.True(model.modules().OfType<OrthogonalMatrix>().Count() > 1);
        try
        {
            OrthogonalMatrix.SyncFreeOnCpu = true;
            var batched = model.Contextualize(xv, xa).Multimodal!;
            Assert.True(batched.allclose(expected, rtol: 1e-5, atol: 1e-5), $"max diff {(batched - expected).abs().max().item<float>():g3}");
        }
        finally { OrthogonalMatrix.SyncFreeOnCpu = false; }
    }
}
