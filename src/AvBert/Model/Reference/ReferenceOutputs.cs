using AvBert.Config;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Model.Reference;

/// <summary>One output tensor compared with the reference's (docs/PARITY.md).</summary>
public sealed record OutputComparison(string Key, double MaxDiff, double MaxRef, bool ShapeMatches)
{
    public bool Ok => ShapeMatches && MaxDiff <= ReferenceOutputs.Tolerance * MaxRef;
}

/// <summary>
/// The parity contract of docs/PARITY.md: a model run (eval mode, no gradients) on the <c>input.visual</c> /
/// <c>input.audio</c> tensors of a reference file, giving the <c>output.*</c> tensors under the reference's names, and
/// their comparison with the reference's outputs. `avbert forward` and the parity tests both run this.
/// </summary>
public static class ReferenceOutputs
{
    /// <summary>max |ours − ref| ≤ Tolerance · max |ref| for every output tensor.</summary>
    public const double Tolerance = 2e-4;

    /// <summary>Runs <paramref name="model"/> on the inputs of <paramref name="io"/>; the outputs on the CPU, contiguous.</summary>
    public static Dictionary<string, Tensor> Run(AvBertModel model, AvBertConfig cfg, IReadOnlyDictionary<string, Tensor> io, string inputsPath, Device device)
    {
        Tensor Input(string key, int dims, string layout)
        {
            if (!io.TryGetValue(key, out var t))
                throw new UserError($"--inputs {inputsPath}: no '{key}' tensor (has: {string.Join(", ", io.Keys.Order())}).");
            if (t.dim() != dims)
                throw new UserError($"--inputs {inputsPath}: '{key}' has shape [{string.Join(", ", t.shape)}]; expected {layout}.");
            return t.to(float32).to(device);
        }
        var visual = Input("input.visual", 6, "[B, T, 3, F, H, W]");
        var audio = Input("input.audio", 5, "[B, T, 1, FREQ, TIME]");
        if (visual.shape[0] != audio.shape[0] || visual.shape[1] != audio.shape[1])
            throw new UserError($"--inputs {inputsPath}: input.visual and input.audio must agree on B and T " +
                                $"([{visual.shape[0]}, {visual.shape[1]}] vs [{audio.shape[0]}, {audio.shape[1]}]).");
        long clips = visual.shape[1];
        var t = cfg.Model.Transformer;
        if (clips + 1 > t.MaxPositions)
            throw new UserError($"--inputs {inputsPath}: T = {clips} clips need {clips + 1} positions but the model has " +
                                $"model.transformer.max_positions = {t.MaxPositions}.");
        if (t.BosMeanPooling && clips > cfg.Data.SequenceLength)
            throw new UserError($"--inputs {inputsPath}: T = {clips} clips with model.transformer.bos_mean_pooling, more than data.sequence_length = " +
                                $"{cfg.Data.SequenceLength}: the reference's sinusoid table has DATA.SEQUENCE_LENGTH rows and cannot run it. " +
                                "Fix: at most data.sequence_length clips (or raise it in the model's config.yaml).");

        model.eval();
        var results = new Dictionary<string, Tensor>();
        using (no_grad())
        {
            var o = model.forward(visual, audio);
            results["output.visual_pooled"] = o.VisualPooled;
            results["output.audio_pooled"] = o.AudioPooled;
            if (o.Context.Visual is not null) results["output.visual_transformer"] = o.Context.Visual;
            if (o.Context.Audio is not null) results["output.audio_transformer"] = o.Context.Audio;
            if (o.Context.Multimodal is not null) results["output.multimodal_transformer"] = o.Context.Multimodal;
        }
        return results.ToDictionary(kv => kv.Key, kv => kv.Value.cpu().contiguous());
    }

    /// <summary>Each of <paramref name="outputs"/> that <paramref name="io"/> also holds, compared with it.</summary>
    public static List<OutputComparison> Compare(IReadOnlyDictionary<string, Tensor> outputs, IReadOnlyDictionary<string, Tensor> io)
    {
        var result = new List<OutputComparison>();
        foreach (var (key, ours) in outputs)
        {
            if (!io.TryGetValue(key, out var reference)) continue;
            reference = reference.to(float32);
            if (!reference.shape.SequenceEqual(ours.shape)) { result.Add(new OutputComparison(key, double.NaN, double.NaN, false)); continue; }
            double maxDiff = (ours - reference).abs().max().item<float>();
            double maxRef = reference.abs().max().item<float>();
            result.Add(new OutputComparison(key, maxDiff, maxRef, true));
        }
        return result;
    }
}
