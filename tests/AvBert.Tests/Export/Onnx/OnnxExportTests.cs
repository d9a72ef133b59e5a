using AvBert.Config;
using AvBert.Downstream;
using AvBert.Export.Onnx;
using AvBert.Model;
using AvBert.Model.Reference;
using AvBert.Runtime;
using AvBert.Storage;
using AvBert.Tests.Export.PyTorch;
using AvBert.Tests.Model;
using AvBert.Tests.Model.Reference;
using Google.Protobuf;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace AvBert.Tests.Export.Onnx;

/// <summary>
/// `export --format onnx` (docs/export.md): the exported graph, run in ONNX Runtime, gives our TorchSharp outputs to
/// 1e-4 of each output's largest value, for every fusion and sharing mode, every golden's architecture and the
/// fine-tuned heads.
/// </summary>
public class OnnxExportTests(ITestOutputHelper output)
{
    public const double Tolerance = 1e-4;

    /// <summary>Every parameter and buffer to random values (BN statistics included), so no residual branch is silent.</summary>
    internal static void Randomize(nn.Module model, long seed)
    {
        var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (name, t) in model.state_dict())
        {
            if (!t.is_floating_point()) continue;
            if (name.EndsWith("running_var")) t.copy_(rand(t.shape, generator: g) + 0.5);
            else if (name.EndsWith("sigma.base")) continue;
            else if (name.EndsWith("sigma.a")) t.copy_(randn(t.shape, generator: g) * 0.3);
            else t.copy_(randn(t.shape, generator: g) * (t.dim() > 1 ? 1.0 / Math.Sqrt(t.shape[1..].Aggregate(1L, (a, b) => a * b)) : 0.2) + (name.EndsWith("weight") && t.dim() == 1 ? 1 : 0));
        }
    }

    /// <summary>Our outputs under the graph's names (eval mode).</summary>
    internal static Dictionary<string, Tensor> Ours(AvBertModel m, Tensor? visual, Tensor? audio)
    {
        m.eval();
        using var _ = no_grad();
        var result = new Dictionary<string, Tensor>();
        Tensor? xv = null, xa = null;
        if (m.HasVisual) xv = result["visual_embeddings"] = m.ProjectVisual(result["visual_pooled"] = m.PoolVisual(visual!));
        if (m.HasAudio) xa = result["audio_embeddings"] = m.ProjectAudio(result["audio_pooled"] = m.PoolAudio(audio!));
        var c = m.Contextualize(xv, xa);
        if (c.Visual is { } v) result["visual_transformer"] = v;
        if (c.Audio is { } a) result["audio_transformer"] = a;
        if (c.Multimodal is { } mm) result["multimodal_transformer"] = mm;
        return result;
    }

    internal static Dictionary<string, Tensor> Inputs(Tensor? visual, Tensor? audio)
    {
        var d = new Dictionary<string, Tensor>();
        if (visual is not null) d[OnnxExport.VisualInput] = visual;
        if (audio is not null) d[OnnxExport.AudioInput] = audio;
        return d;
    }

    /// <summary>Every expected output is there and within the tolerance; returns the worst ratio max|diff| / max|ref|.</summary>
    double Compare(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual, string what)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        double worst = 0;
        foreach (var (k, e) in expected)
        {
            var a = actual[k];
            Assert.Equal(e.shape, a.shape);
            double diff = (e - a).abs().max().item<float>(), max = e.abs().max().item<float>();
            double ratio = diff / Math.Max(max, 1e-30);
            worst = Math.Max(worst, ratio);
            output.WriteLine($"{what} {k}: max|diff| {diff:g3}, max|ref| {max:g3}, ratio {ratio:g3}");
            Assert.True(ratio <= Tolerance, $"{what} {k}: max|onnx − ours| = {diff:g3} > {Tolerance:g} · {max:g3}");
        }
        return worst;
    }

    double RunAndCompare(AvBertModel model, AvBertConfig config, Tensor? visual, Tensor? audio, string what)
    {
        var (proto, _) = OnnxExport.Build(model, config);
        using var ort = OnnxRuntimeModel.Create(proto.ToByteArray());
        return Compare(Ours(model, visual, audio), ort.Run(Inputs(visual, audio)), what);
    }

    public static IEnumerable<object[]> Modes()
    {
        foreach (var fusion in Enum.GetValues<Fusion>())
            foreach (var sharing in Enum.GetValues<CrossTransformerSharing>())
                foreach (var crossLayer in new[] { true, false })
                    yield return [fusion, sharing, crossLayer];
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Onnx_runtime_gives_our_outputs_in_every_fusion_and_sharing_mode(Fusion fusion, CrossTransformerSharing sharing, bool crossLayer)
    {
        using var model = TinyModels.Build(fusion, crossLayer, sharing);
        Randomize(model, 7);
        var cfg = new AvBertConfig { Model = model.Config, Data = TinyModels.Data };
        var (visual, audio) = TinyModels.Inputs();
        double worst = RunAndCompare(model, cfg, visual, audio, $"{fusion}/{sharing}/{(crossLayer ? "albert" : "bert")}");
        output.WriteLine($"worst ratio {worst:g3}");
    }

    [Fact]
    public void The_batch_and_clip_axes_are_dynamic()
    {
        using var model = TinyModels.Build();
        Randomize(model, 3);
        var (proto, info) = OnnxExport.Build(model, new AvBertConfig { Model = model.Config, Data = TinyModels.Data });
        Assert.All(info.Inputs, i => Assert.Equal(["batch", "clips"], i.Dims[..2]));
        using var ort = OnnxRuntimeModel.Create(proto.ToByteArray());
        foreach (var (batch, clips) in new[] { (1, 1), (3, 2) })
        {
            var data = TinyModels.Data with { SequenceLength = clips };
            var (visual, audio) = TinyModels.Inputs(data, batch, seed: batch);
            Compare(Ours(model, visual, audio), ort.Run(Inputs(visual, audio)), $"B={batch} T={clips}");
        }
    }

    public static TheoryData<string> Goldens() => PyTorchExportTests.Goldens();

    [Theory]
    [MemberData(nameof(Goldens))]
    public void Onnx_runtime_gives_our_outputs_on_every_golden(string name)
    {
        var import = ReferenceCheckpoint.Convert(ReferenceGoldenTests.Golden(name + ".pyth"), ReferenceGoldenTests.Golden(name + ".config.yaml"));
        using var model = import.Model;
        var io = SafetensorsFile.ReadAll(ReferenceGoldenTests.Golden(name + ".io.safetensors"));
        var cfg = import.Config;
        // The graph fixes a windowed head's geometry at data.num_frames × data.test_crop_size²: the golden's own input sizes.
        if (io.TryGetValue("input.visual", out var v)) cfg = cfg with { Data = cfg.Data with { NumFrames = (int)v.shape[3], TestCropSize = (int)v.shape[4] } };
        RunAndCompare(model, cfg, io.GetValueOrDefault("input.visual"), io.GetValueOrDefault("input.audio"), name);
    }

    [Theory]
    [InlineData(DownstreamTask.Visual, Fusion.Mid)]
    [InlineData(DownstreamTask.Audio, Fusion.Mid)]
    [InlineData(DownstreamTask.Audiovisual, Fusion.Mid)]
    [InlineData(DownstreamTask.Audiovisual, Fusion.Late)]
    [InlineData(DownstreamTask.Multilabel, Fusion.Early)]
    public void A_fine_tuned_model_gives_our_logits(DownstreamTask task, Fusion fusion)
    {
        var backbone = TinyModels.Build(fusion);
        using var transfer = new TransferModel(backbone, new TransferModelOptions(task, TransferProtocol.Finetune, NumClasses: 5));
        Randomize(transfer, 11);
        transfer.eval();
        var cfg = new AvBertConfig { Model = backbone.Config, Data = TinyModels.Data };
        var (visual, audio) = TinyModels.Inputs();
        var (proto, info) = OnnxExport.Build(backbone, cfg, transfer);
        using var ort = OnnxRuntimeModel.Create(proto.ToByteArray());
        var inputs = Inputs(task == DownstreamTask.Audio ? null : visual, task == DownstreamTask.Visual ? null : audio);
        Assert.Equal(inputs.Keys.Order(), info.Inputs.Select(i => i.Name).Order());
        var got = ort.Run(inputs);
        IReadOnlyList<Tensor> logits;
        using (no_grad()) logits = transfer.Forward(inputs.GetValueOrDefault(OnnxExport.VisualInput), inputs.GetValueOrDefault(OnnxExport.AudioInput));
        var expected = new Dictionary<string, Tensor> { [OnnxExport.ClipLogits] = logits[0] };
        if (logits.Count > 1) expected[OnnxExport.SequenceLogits] = logits[1];
        Compare(expected, got.Where(kv => kv.Key.EndsWith("_logits")).ToDictionary(), $"{task}/{fusion}");
    }

    [Fact]
    public void Slowfast_is_refused_with_one_line()
    {
        var m = TinyModels.Model() with { Visual = new VisualCnnConfig { Arch = VisualCnnArch.Slowfast, StageBlocks = [1, 1, 1, 1], WidthPerGroup = 8, Slowfast = new() { Alpha = 2, BetaInv = 8 } } };
        using var model = new AvBertModel(m);
        var e = Assert.Throws<UserError>(() => OnnxExport.Build(model, new AvBertConfig { Model = m, Data = TinyModels.Data }));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("model.visual.arch: slowfast", e.Message);
    }
}
