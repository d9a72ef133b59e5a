using AvBert.Config;
using AvBert.Model;
using AvBert.Pretraining;
using static TorchSharp.torch;

namespace AvBert.Tests.Pretraining;

public class PretrainObjectiveOptionsTests
{
    [Fact]
    public void The_options_carry_what_the_pretrain_section_says_about_the_objective()
    {
        var c = PretrainerTests.Tiny("pretrain.negatives=5", "pretrain.mep_score=cosine", "pretrain.cpp_pooling=mean", "pretrain.mask_prob=0.3");
        var o = PretrainObjectiveOptions.From(c.Pretrain);
        Assert.Equal(5, o.Mep.NegativeCount);
        Assert.Equal(MepScore.Cosine, o.Mep.Score);
        Assert.Equal(CppPooling.Mean, o.Cpp.Pooling);
        Assert.Equal(0.3, o.Masking.MaskProb);
    }

    [Fact]
    public void The_cpp_head_is_reachable_by_type_and_absent_when_cpp_is_off()
    {
        var c = PretrainerTests.Tiny();
        using var p = new AvBertPretrainer(new AvBertModel(c.Model), c.Model, PretrainObjectiveOptions.From(c.Pretrain));
        Assert.Same(p.named_modules().Single(m => m.name == "cpp_head").module, p.CppHead);
        var off = PretrainerTests.Tiny("pretrain.cpp_fraction=0");
        using var q = new AvBertPretrainer(new AvBertModel(off.Model), off.Model, PretrainObjectiveOptions.From(off.Pretrain));
        Assert.Null(q.CppHead);
    }
}
