using AvBert.Config;
using AvBert.Model;
using AvBert.Pretraining;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>
/// Module.to(dtype) runs the same TorchSharp code path as Module.to(cuda) (it rebuilds every parameter and indexes each
/// module's public properties by name), so a CPU test catches modules that cannot be moved to a GPU — as a ModuleDict with
/// its two indexers could not (found on the first GPU run).
/// </summary>
public class ModuleMoveTests
{
    [Theory]
    [InlineData(CrossTransformerSharing.Partial)]
    [InlineData(CrossTransformerSharing.All)]
    [InlineData(CrossTransformerSharing.None)]
    public void Model_moves_to_float64_and_back_with_the_same_names_and_outputs(CrossTransformerSharing sharing)
    {
        using var model = TinyModels.Build(sharing: sharing);
        model.eval();
        var names = model.state_dict().Keys.ToList();
        var (v, a) = TinyModels.Inputs();
        using var before = model.forward(v, a).Context.Multimodal!.detach().clone();

        model.to(float64);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        Assert.Equal(names, model.state_dict().Keys.ToList());
        using (no_grad())
        {
            var o64 = model.forward(v.to(float64), a.to(float64)).Context.Multimodal!;
            Assert.Equal(ScalarType.Float64, o64.dtype);
            Assert.True(o64.to(float32).allclose(before, rtol: 1e-4, atol: 1e-5));
        }

        model.to(float32);
        Assert.Equal(names, model.state_dict().Keys.ToList());
        using (no_grad()) Assert.True(model.forward(v, a).Context.Multimodal!.allclose(before, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Pretrainer_with_its_heads_moves()
    {
        var config = AvBert.Tests.Pretraining.PretrainerTests.Tiny();
        var model = new AvBertModel(config.Model, config.Data);
        using var pretrainer = new AvBertPretrainer(model, config.Model, config.Pretrain);
        var names = pretrainer.state_dict().Keys.ToList();
        pretrainer.to(float64);
        Assert.Equal(names, pretrainer.state_dict().Keys.ToList());
        Assert.All(pretrainer.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        Assert.Contains(names, n => n.StartsWith("mep_heads."));
    }
}
