using AvBert.Config;
using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

public class MultimodalLayoutTests
{
    [Fact]
    public void The_named_halves_of_the_multimodal_outputs_follow_the_vbos_v_abos_a_layout()
    {
        const int T = 3;
        // Position p of [vBOS, v1..v3, aBOS, a1..a3] holds the value p.
        var m = arange(2 * (T + 1), dtype: float32).reshape(1, 2 * (T + 1), 1).expand(2, -1, 4);
        var ctx = new ContextOutputs(null, null, m);
        Assert.Equal(new float[] { 0, 1, 2, 3 }, ctx.MultimodalVisual()[0, .., 0].data<float>().ToArray());
        Assert.Equal(new float[] { 4, 5, 6, 7 }, ctx.MultimodalAudio()[0, .., 0].data<float>().ToArray());
        Assert.Equal(new float[] { 1, 2, 3 }, ctx.MultimodalVisualClips()[1, .., 0].data<float>().ToArray());
        Assert.Equal(new float[] { 5, 6, 7 }, ctx.MultimodalAudioClips()[1, .., 0].data<float>().ToArray());
        Assert.Equal(0f, ctx.MultimodalVisualBos()[0, 0].item<float>());
        Assert.Equal(4f, ctx.MultimodalAudioBos()[0, 0].item<float>());
        Assert.Equal(new long[] { 2, 4 }, ctx.MultimodalAudioBos().shape);
    }

    [Fact]
    public void A_model_without_a_multimodal_transformer_says_so()
    {
        var ctx = new ContextOutputs(zeros(1, 3, 4), zeros(1, 3, 4), null);
        Assert.Contains("Multimodal = ", ctx.ToString());                  // printing the record slices nothing
        Assert.Throws<InvalidOperationException>(() => ctx.MultimodalVisualClips());
    }

    [Fact]
    public void A_model_built_from_its_model_section_alone_checks_that_section()
    {
        using var model = new AvBertModel(TinyModels.Model());
        Assert.Equal(16, model.HiddenSize);
        var bad = TinyModels.Model() with { Audio = TinyModels.Model().Audio with { StemKernel = 4 } };
        var e = Assert.Throws<ConfigError>(() => new AvBertModel(bad));
        Assert.Contains("model.audio.stem_kernel: 4", e.Message);
    }

    [Fact]
    public void Every_hidden_activation_is_a_yaml_choice()
    {
        var cfg = ConfigLoader.Load(overrides: ["model.transformer.hidden_act=gelu_new"]);
        Assert.Equal(HiddenActivation.GeluNew, cfg.Model.Transformer.HiddenAct);
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(overrides: ["model.transformer.hidden_act=sparkle"]));
        Assert.Contains("gelu, gelu_new, relu, swish, mish, identity", e.Message);
    }
}
