using AvBert.Config;
using AvBert.Model;

namespace AvBert.Tests.Model;

public class ParameterCountTests
{
    [Fact]
    public void Full_size_counts_match_the_paper_and_the_released_model()
    {
        var cfg = new ModelConfig();
        long Transformer(bool crossLayer, CrossTransformerSharing s) => ParameterCounts.TransformerOf(ParameterCounts.WithSharing(cfg, crossLayer, s));
        Assert.Equal(127_581_696, Transformer(false, CrossTransformerSharing.None));
        Assert.Equal(21_263_616, Transformer(true, CrossTransformerSharing.None));
        Assert.Equal(7_087_872, Transformer(true, CrossTransformerSharing.All));
        Assert.Equal(3_843_840, Transformer(true, CrossTransformerSharing.Partial));

        using var model = new AvBertModel(cfg, new DataConfig());
        var counts = ParameterCounts.Of(model);
        Assert.Equal(31_672_128, counts.VisualCnn);
        Assert.Equal(5_839_840, counts.AudioCnn);
        Assert.Equal(58_368, counts.Embeddings);
        Assert.Equal(2_363_904, counts.Projections);
        Assert.Equal(3_843_840, counts.Transformer);
        Assert.Equal(43_778_080, counts.Total);
        Assert.Equal(2048, model.VisualFeatureDim);
        Assert.Equal(1024, model.AudioFeatureDim);
    }

    [Theory]
    [MemberData(nameof(TinyModels.AllFusionAndSharing), MemberType = typeof(TinyModels))]
    public void Computed_transformer_count_equals_the_built_model(Fusion fusion, CrossTransformerSharing sharing)
    {
        foreach (var crossLayer in new[] { false, true })
        {
            var cfg = TinyModels.Model(fusion, crossLayer, sharing);
            using var model = new AvBertModel(cfg, TinyModels.Data);
            Assert.Equal(ParameterCounts.TransformerOf(cfg), ParameterCounts.Of(model).Transformer);
        }
        var grouped = TinyModels.Model(fusion, true, sharing) with
        {
            Transformer = TinyModels.Model().Transformer with { NumLayers = 4, NumLayerGroups = 2, InnerLayersPerGroup = 2, ShareAcrossTransformers = sharing },
        };
        using var groupedModel = new AvBertModel(grouped, TinyModels.Data);
        Assert.Equal(ParameterCounts.TransformerOf(grouped), ParameterCounts.Of(groupedModel).Transformer);
    }
}
