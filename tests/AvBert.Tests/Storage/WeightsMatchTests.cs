using AvBert.Runtime;
using AvBert.Storage;
using static TorchSharp.torch;

namespace AvBert.Tests.Storage;

public class WeightsMatchTests
{
    static readonly Dictionary<string, Tensor> Target = new() { ["a"] = zeros(2), ["b"] = zeros(3), ["c"] = zeros(4, 4) };

    [Fact]
    public void Missing_unexpected_and_misshapen_weights_are_listed_in_one_message()
    {
        var stored = new Dictionary<string, StoredWeight>
        {
            ["a"] = new([2], ScalarType.Float32), ["c"] = new([4, 5], ScalarType.Float32), ["z"] = new([1], ScalarType.Float32),
        };
        var e = Assert.Throws<UserError>(() => WeightsMatch.Check(Target, stored, "w.safetensors", "fix it."));
        Assert.StartsWith("w.safetensors: the weights do not fit this model: ", e.Message);
        Assert.Contains("missing weight 'b' (the model needs [3])", e.Message);
        Assert.Contains("unexpected weight 'z'", e.Message);
        Assert.Contains("weight 'c' has shape [4, 5] but the model needs [4, 4]", e.Message);
        Assert.EndsWith("Fix: fix it.", e.Message);
    }

    [Fact]
    public void Renamed_optional_and_leftover_weights_follow_the_callers_rules()
    {
        // Stored under other names, "b" may be absent, leftovers allowed, dtypes converted (null): all fits.
        var stored = new Dictionary<string, StoredWeight>
        {
            ["x.a"] = new([2], null), ["x.c"] = new([4, 4], null), ["x.extra"] = new([9], null),
        };
        WeightsMatch.Check(Target, stored, "ckpt", "fix.", storedName: k => "x." + k, optional: k => k == "b",
                           allowUnexpected: true);
        var e = Assert.Throws<UserError>(() => WeightsMatch.Check(Target, stored, "ckpt", "fix.", storedName: k => "x." + k,
                                                                  allowUnexpected: true, shown: k => "avbert." + k));
        Assert.Contains("missing weight 'avbert.x.b'", e.Message);
        Assert.DoesNotContain("unexpected", e.Message);
    }
}
