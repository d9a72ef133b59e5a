using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>The paper's V-BERT / A-BERT baselines (model.modalities visual / audio, late fusion).</summary>
public class SingleModalityTests
{
    static ModelConfig Only(Modalities modalities) => TinyModels.Model(Fusion.Late) with { Modalities = modalities };

    [Theory]
    [InlineData(Modalities.Visual, "audio")]
    [InlineData(Modalities.Audio, "visual")]
    public void A_single_modality_model_has_one_stream_and_runs_on_its_one_input(Modalities modalities, string absent)
    {
        using var model = new AvBertModel(Only(modalities), TinyModels.Data);
        var keys = model.state_dict().Keys.ToList();
        Assert.DoesNotContain(keys, k => k.StartsWith(absent + "_"));
        Assert.Equal(1, model.state_dict()["bos.vectors.weight"].shape[0]);   // one BOS row, as the reference's Embedding(1, D)
        Assert.Equal([modalities == Modalities.Visual ? "visual" : "audio"], model.TransformerNames);

        model.eval();
        var (visual, audio) = TinyModels.Inputs();
        using var _ = no_grad();
        var x = modalities == Modalities.Visual ? model.EncodeVisual(visual) : model.EncodeAudio(audio);
        var outs = modalities == Modalities.Visual ? model.Contextualize(x, null) : model.Contextualize(null, x);
        var y = (modalities == Modalities.Visual ? outs.Visual : outs.Audio)!;
        Assert.Equal([TinyModels.B, TinyModels.T + 1, 16], y.shape);
        Assert.Null(modalities == Modalities.Visual ? outs.Audio : outs.Visual);
        Assert.Null(outs.Multimodal);

        // Using the absent stream is one line naming the setting, not a null reference.
        var e = Assert.Throws<UserError>(() => modalities == Modalities.Visual ? model.EncodeAudio(audio) : model.EncodeVisual(visual));
        Assert.Contains($"no {absent} stream (model.modalities: {modalities.ToString().ToLowerInvariant()})", e.Message);
    }

    [Theory]
    [InlineData(Fusion.Mid)]
    [InlineData(Fusion.Early)]
    public void One_modality_needs_late_fusion(Fusion fusion)
    {
        var e = Assert.Throws<ConfigError>(() => new AvBertModel(Only(Modalities.Visual) with { Fusion = fusion }, TinyModels.Data));
        Assert.Contains("model.modalities", e.Message);
        Assert.Contains("late", e.Message);
    }
}
