using System.Text.Json;
using AvBert.Config;
using AvBert.Model;
using AvBert.Model.Reference;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace AvBert.Tests.Model.Reference;

/// <summary>
/// The committed goldens (tests/AvBert.Tests/Goldens, made by scripts/make-goldens.sh from the authors' code with every
/// parameter and buffer randomised): each converts and reproduces the authors' outputs through the code paths of
/// `avbert convert` (ReferenceCheckpoint.Convert, ModelDirectory.Save) and `avbert forward` (ModelDirectory.Load,
/// ReferenceOutputs), at the tolerance of docs/PARITY.md.
/// </summary>
public class ReferenceGoldenTests(ITestOutputHelper output)
{
    internal static string Golden(string name) => Path.Combine(TestSetup.RepoRoot, "tests", "AvBert.Tests", "Goldens", name);

    /// <summary>Every audio-visual golden of scripts/goldens/make_goldens.py (CASES).</summary>
    public static TheoryData<string> AudioVisualCases => Cases(AudioVisualNames);
    static readonly string[] AudioVisualNames =
    [
        "mid-partial", "mid-all", "mid-lowrank", "mid-none-bert", "mid-partial-bert", "early", "late-partial", "late-none",
        "cayley", "dtriv", "henaff-gelu-new", "albert-groups", "bottleneck50", "basic18", "basic34", "resnext", "dilated",
        "odd-sizes", "mean-bos",
    ];

    /// <summary>The paper's V-BERT / A-BERT baselines (MODEL.ARCH visual / audio, late fusion).</summary>
    public static TheoryData<string> SingleModalityCases => Cases(SingleModalityNames);
    static readonly string[] SingleModalityNames = ["visual-only", "audio-only"];

    static TheoryData<string> Cases(IEnumerable<string> names)
    {
        var data = new TheoryData<string>();
        foreach (var n in names) data.Add(n);
        return data;
    }

    [Theory]
    [MemberData(nameof(AudioVisualCases))]
    [MemberData(nameof(SingleModalityCases))]
    public void Golden_converts_and_reproduces_the_reference_outputs(string name)
    {
        var dir = TestSetup.TempDir("golden-" + name);
        var import = ReferenceCheckpoint.Convert(Golden(name + ".pyth"), Golden(name + ".config.yaml"));
        foreach (var w in import.Warnings) output.WriteLine("warning: " + w);
        // The authors' parameter count (index.json, counted by their model) is ours: every weight has its place.
        using var index = JsonDocument.Parse(File.ReadAllText(Golden("index.json")));
        long theirs = index.RootElement.GetProperty("cases").GetProperty(name).GetProperty("n_params").GetInt64();
        var cfg0 = import.Config.Model;
        if (cfg0.Transformer.ShareAcrossTransformers == CrossTransformerSharing.LowRank)
        {
            // Unshared low-rank: each of their Transformers also holds the other Transformers' factor sets (V_i, Σ_i),
            // never used; ours holds only its own. Per distinct layer: 5 factorised D-input weights and the FFN output.
            var t = cfg0.Transformer;
            int n = TransformerSharing.TransformersOf(cfg0).Count, distinct = t.ShareAcrossLayers ? t.NumLayerGroups * t.InnerLayersPerGroup : t.NumLayers;
            long perSet(long inputs) => inputs * t.Rank + (long)t.Rank * t.Rank;
            theirs -= (long)n * (n - 1) * distinct * (5 * perSet(t.HiddenSize) + perSet(t.IntermediateSize));
        }
        Assert.Equal(theirs, ParameterCounts.Of(import.Model).Total);
        using (import.Model) ModelDirectory.Save(dir, import.Config, import.Model);

        var (cfg, model) = ModelDirectory.Load(dir, CPU);
        using var _m = model;
        var inputs = Golden(name + ".io.safetensors");
        var io = Safetensors.LoadStateDict(inputs);
        var outputs = ReferenceOutputs.Run(model, cfg, io, inputs, CPU);
        var expected = io.Keys.Where(k => k.StartsWith("output.")).Order().ToList();
        Assert.Equal(expected, outputs.Keys.Order().ToList());
        foreach (var k in ReferenceOutputs.Compare(outputs, io))
        {
            output.WriteLine($"{k.Key}: max|diff| {k.MaxDiff:g3}, max|ref| {k.MaxRef:g3}, ratio {k.MaxDiff / k.MaxRef:g3}");
            Assert.True(k.Ok, $"{name} {k.Key}: max|ours−ref| = {k.MaxDiff:g3} > {ReferenceOutputs.Tolerance:g} · {k.MaxRef:g3}");
        }
    }

    [Theory]
    [InlineData("odd-sizes")]     // 7 frames: a 4-step map under a 3-step window
    [InlineData("dilated")]       // stride-1 dilated stage 5: a 3×3 map under a 2×2 window
    public void The_reference_pooling_is_needed_where_its_window_does_not_cover_the_map(string name)
    {
        var import = ReferenceCheckpoint.Convert(Golden(name + ".pyth"), Golden(name + ".config.yaml"));
        using var model = import.Model;
        model.eval();
        var io = Safetensors.LoadStateDict(Golden(name + ".io.safetensors"));
        using var _ = no_grad();
        var visual = io["input.visual"];
        var map = ((VisualResNet3D)model.VisualCnn).FeatureMap(visual.reshape([visual.shape[0] * visual.shape[1], .. visual.shape[2..]]));
        var reference = io["output.visual_pooled"].reshape(map.shape[0], -1);
        var window = import.Config.Model.Visual.PoolWindow.Select(k => (long)k).ToArray();
        double Error(Tensor pooled) => (pooled - reference).abs().max().item<float>() / reference.abs().max().item<float>();
        Assert.True(Error(VisualResNet3D.Pool(map, window)) <= ReferenceOutputs.Tolerance);
        Assert.True(Error(VisualResNet3D.Pool(map, [])) > 100 * ReferenceOutputs.Tolerance, "the global mean should miss the reference here");
    }

    [Fact]
    public void Every_golden_on_disk_is_tested()
    {
        var onDisk = Directory.GetFiles(Golden(""), "*.pyth").Select(f => Path.GetFileNameWithoutExtension(f)).Order().ToList();
        var tested = AudioVisualNames.Concat(SingleModalityNames).Order().ToList();
        Assert.Equal(onDisk, tested);
    }
}
