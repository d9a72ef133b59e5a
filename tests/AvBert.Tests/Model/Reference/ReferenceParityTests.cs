using AvBert.Model;
using AvBert.Model.Reference;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace AvBert.Tests.Model.Reference;

/// <summary>The authors' tiny-a model (every parameter and buffer randomised), converted, must reproduce their outputs.</summary>
public class ReferenceParityTests(ITestOutputHelper output)
{
    static string Ref(string name) => Path.Combine(TestSetup.ReferenceDir, name);

    /// <summary>max |ours − ref| ≤ 2e-4 · max |ref| (the tolerance of docs/PARITY.md).</summary>
    internal static double RelativeError(Tensor ours, Tensor reference)
    {
        Assert.Equal(reference.shape, ours.shape);
        return (ours - reference).abs().max().item<float>() / reference.abs().max().item<float>();
    }

    [Fact]
    public void Tiny_a_reproduces_all_five_reference_outputs()
    {
        var import = ReferenceCheckpoint.Convert(Ref("tiny-a.pyth"), Ref("tiny-a.config.yaml"));
        using var model = import.Model;
        foreach (var w in import.Warnings) output.WriteLine(w);
        model.eval();
        var io = Safetensors.LoadStateDict(Ref("tiny-a.io.safetensors"));
        using var _ = no_grad();
        var outs = model.forward(io["input.visual"], io["input.audio"]);
        var pairs = new (string Name, Tensor Ours)[]
        {
            ("visual_pooled", outs.VisualPooled), ("audio_pooled", outs.AudioPooled),
            ("visual_transformer", outs.Context.Visual!), ("audio_transformer", outs.Context.Audio!),
            ("multimodal_transformer", outs.Context.Multimodal!),
        };
        foreach (var (name, ours) in pairs)
        {
            double err = RelativeError(ours, io["output." + name]);
            output.WriteLine($"{name}: relative max error {err:g3}");
            Assert.True(err <= 2e-4, $"{name}: max|ours−ref| / max|ref| = {err:g3} > 2e-4");
        }
    }

    [Fact]
    public void Tiny_a_converts_without_warnings_and_has_the_reference_parameter_count()
    {
        var import = ReferenceCheckpoint.Convert(Ref("tiny-a.pyth"), Ref("tiny-a.config.yaml"));
        using var model = import.Model;
        Assert.Empty(import.Warnings);
        Assert.Equal(279_472, model.parameters().Sum(p => p.numel()));   // tiny-a.json n_params
    }

    [Fact]
    public void A_converted_model_directory_still_reproduces_the_reference_after_reloading()
    {
        var dir = TestSetup.TempDir("tiny-a");
        var import = ReferenceCheckpoint.Convert(Ref("tiny-a.pyth"), Ref("tiny-a.config.yaml"));
        using (import.Model) ModelDirectory.Save(dir, import.Config, import.Model);
        var (_, model) = ModelDirectory.Load(dir, CPU);
        using var _m = model;
        model.eval();
        var io = Safetensors.LoadStateDict(Ref("tiny-a.io.safetensors"));
        using var _ = no_grad();
        var outs = model.forward(io["input.visual"], io["input.audio"]);
        Assert.True(RelativeError(outs.Context.Multimodal!, io["output.multimodal_transformer"]) <= 2e-4);
        Assert.True(RelativeError(outs.VisualPooled, io["output.visual_pooled"]) <= 2e-4);
    }
}
