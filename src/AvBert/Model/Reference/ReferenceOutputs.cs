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
            if (!t.is_floating_point())
                throw new UserError($"--inputs {inputsPath}: '{key}' is {t.dtype}; expected floating-point values (F32, or F16/BF16/F64, converted to F32).");
            if (t.dim() != dims)
                throw new UserError($"--inputs {inputsPath}: '{key}' has shape [{string.Join(", ", t.shape)}]; expected {layout}.");
            return t.to(float32).to(device);
        }
        // A single-modality model reads its one input (the other, if present, is not used).
        var visual = model.HasVisual ? Input("input.visual", 6, "[B, T, 3, F, H, W]") : null;
        var audio = model.HasAudio ? Input("input.audio", 5, "[B, T, 1, FREQ, TIME]") : null;
        if (visual is not null && audio is not null && (visual.shape[0] != audio.shape[0] || visual.shape[1] != audio.shape[1]))
            throw new UserError($"--inputs {inputsPath}: input.visual and input.audio must agree on B and T " +
                                $"([{visual.shape[0]}, {visual.shape[1]}] vs [{audio.shape[0]}, {audio.shape[1]}]).");
        long clips = (visual ?? audio)!.shape[1];
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
            var vp = visual is null ? null : model.PoolVisual(visual);
            var ap = audio is null ? null : model.PoolAudio(audio);
            var context = model.Contextualize(vp is null ? null : model.ProjectVisual(vp), ap is null ? null : model.ProjectAudio(ap));
            if (vp is not null) results["output.visual_pooled"] = vp;
            if (ap is not null) results["output.audio_pooled"] = ap;
            if (context.Visual is not null) results["output.visual_transformer"] = context.Visual;
            if (context.Audio is not null) results["output.audio_transformer"] = context.Audio;
            if (context.Multimodal is not null) results["output.multimodal_transformer"] = context.Multimodal;
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
