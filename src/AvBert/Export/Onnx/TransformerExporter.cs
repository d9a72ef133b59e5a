using AvBert.Config;
using AvBert.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Export.Onnx;

/// <summary>
/// BOS, embeddings and the Transformers as ONNX nodes (SPEC §1, §5, §6), walked from our modules: position and modality
/// embeddings as initializer tables sliced to the sequence length (so the clip axis stays dynamic), post-LN layers
/// (MatMul, Softmax, LayerNormalization, the activation from Erf/Tanh/Sigmoid), each Transformer running its layer
/// schedule. Parameter sharing becomes plain weights: a shared weight is one initializer used by every layer and
/// Transformer that runs it, and a low-rank weight U·(normalize(V_iᵀx)·Σ_i) + b becomes MatMul by V_iᵀ, the L2
/// normalisation, and MatMul by the folded Σ_i·Uᵀ (computed once per Transformer in float64).
/// </summary>
public sealed class TransformerExporter(OnnxGraph g, AvBertModel model)
{
    readonly Dictionary<string, nn.Module> parts = CnnExporter.Children(model);
    readonly TransformerConfig t = model.Config.Transformer;

    /// <summary>x^v, x^a [B, T, D] (null for a stream the model lacks) → the Transformer outputs the fusion mode has.</summary>
    public (string? Visual, string? Audio, string? Multimodal) Contextualize(string? xv, string? xa)
    {
        var visualSeq = xv is null ? null : Prepend(xv, Modality.Visual);
        var audioSeq = xa is null ? null : Prepend(xa, Modality.Audio);
        switch (model.Config.Fusion)
        {
            case Fusion.Early:
                return (null, null, Run(AvBertModel.Multimodal, Multimodal(visualSeq!, audioSeq!)));
            case Fusion.Late:
                return (visualSeq is null ? null : Run(AvBertModel.Visual, ModalityInput(visualSeq, "visual_embeddings")),
                        audioSeq is null ? null : Run(AvBertModel.Audio, ModalityInput(audioSeq, "audio_embeddings")), null);
            default:
                var yv = Run(AvBertModel.Visual, ModalityInput(visualSeq!, "visual_embeddings"));
                var ya = Run(AvBertModel.Audio, ModalityInput(audioSeq!, "audio_embeddings"));
                return (yv, ya, Run(AvBertModel.Multimodal, Multimodal(yv, ya)));
        }
    }

    /// <summary>x [B, T, D] → [BOS; x] [B, T+1, D] (<see cref="BosEmbeddings"/>, mean-pooled when configured).</summary>
    string Prepend(string x, Modality modality)
    {
        var bos = CnnExporter.Children(parts["bos"]);
        var vectors = ((Embedding)bos["vectors"]).weight!;
        int row = modality == Modality.Audio && model.HasVisual ? 1 : 0;
        var name = modality.ToString().ToLowerInvariant();
        var vector = g.Derived(vectors, "row" + row, $"bos.{name}", () => vectors[row].reshape(1, 1, -1));   // [1, 1, D]
        var first = g.Node("Expand", [vector, g.Concat(0, g.Dim(x, 0), g.Ints(1, t.HiddenSize))], "bos." + name);
        if (t.BosMeanPooling)
        {
            var table = g.Derived(bos, "sinusoid", "bos.sinusoid", () => BosEmbeddings.Sinusoid(t.MaxPositions, t.HiddenSize, float32, CPU));
            var pe = g.Slice(table, g.Ints(0), g.Dim(x, 1), 0);
            var pooled = g.Node("ReduceMean", [g.Add(x, pe)], "bos.mean", ("axes", new long[] { 1 }), ("keepdims", 1L));
            var norm = (LayerNorm)bos[name + "_norm"];
            first = g.LayerNorm(g.Add(first, pooled), norm.weight!, norm.bias!, t.LayerNormEps, $"bos.{name}_norm");
        }
        return g.Concat(1, first, x);
    }

    /// <summary>LN(y + position) for a modality Transformer (<see cref="ModalityEmbeddings"/>; dropout is off in eval).</summary>
    string ModalityInput(string seq, string module)
    {
        var e = CnnExporter.Children(parts[module]);
        var positions = g.Slice(g.Weight(((Embedding)e["position_embeddings"]).weight!, module + ".position"), g.Ints(0), g.Dim(seq, 1), 0);
        var norm = (LayerNorm)e["layer_norm"];
        return g.LayerNorm(g.Add(seq, positions), norm.weight!, norm.bias!, t.LayerNormEps, module + ".layer_norm");
    }

    /// <summary>[y^v; y^a] + position (restarted for audio) + modality → LN (<see cref="MultimodalEmbeddings"/>).</summary>
    string Multimodal(string visual, string audio)
    {
        var e = CnnExporter.Children(parts["multimodal_embeddings"]);
        var table = g.Weight(((Embedding)e["position_embeddings"]).weight!, "multimodal_embeddings.position");
        var types = ((Embedding)e["modality_embeddings"]).weight!;
        string Half(string y, int type)
        {
            var withPositions = g.Add(y, g.Slice(table, g.Ints(0), g.Dim(y, 1), 0));
            return g.Add(withPositions, g.Derived(types, "row" + type, "multimodal_embeddings.modality" + type, () => types[type].reshape(1, 1, -1)));
        }
        var norm = (LayerNorm)e["layer_norm"];
        return g.LayerNorm(g.Concat(1, Half(visual, 0), Half(audio, 1)), norm.weight!, norm.bias!, t.LayerNormEps, "multimodal_embeddings.layer_norm");
    }

    /// <summary>Transformer <paramref name="transformer"/> over x [B, S, D]: its stack's layers in schedule order.</summary>
    string Run(string transformer, string x)
    {
        var stack = TransformerSharing.Plan(model.Config).First(p => p.Users.Contains(transformer)).Stack;
        var encoder = model.TransformerStacks[stack];
        var layers = encoder.Layers;
        int application = 0;
        foreach (var i in encoder.LayerSchedule)
        {
            var layer = CnnExporter.Children(layers[i]);
            var name = $"{transformer}_transformer.{application++}";
            x = Attention(CnnExporter.Children(layer["attention"]), x, transformer, name + ".attention");
            x = FeedForward(CnnExporter.Children(layer["feed_forward"]), x, transformer, name + ".feed_forward");
        }
        return x;
    }

    /// <summary>LN(x + W_o · softmax(QKᵀ/√d) V), heads split by Reshape/Transpose.</summary>
    string Attention(Dictionary<string, nn.Module> a, string x, string transformer, string name)
    {
        int h = t.NumHeads, dh = t.HiddenSize / h;
        string Heads(string projection, long[] perm) =>
            g.Transpose(g.Reshape(Dense(a[projection], x, transformer, $"{name}.{projection}"), g.Ints(0, 0, h, dh)), perm);
        var q = Heads("query", [0, 2, 1, 3]);                                   // [B, H, S, dh]
        var kT = Heads("key", [0, 2, 3, 1]);                                    // [B, H, dh, S]
        var v = Heads("value", [0, 2, 1, 3]);
        var scores = g.Node("Mul", [g.Node("MatMul", [q, kT], name + ".scores"), g.Scalar((float)(1.0 / Math.Sqrt(dh)))], name + ".scaled");
        var probs = g.Node("Softmax", [scores], name + ".probs", ("axis", -1L));
        var context = g.Reshape(g.Transpose(g.Node("MatMul", [probs, v], name + ".context"), 0, 2, 1, 3), g.Ints(0, 0, t.HiddenSize));
        var norm = (LayerNorm)a["layer_norm"];
        return g.LayerNorm(g.Add(x, Dense(a["output"], context, transformer, name + ".output")), norm.weight!, norm.bias!, t.LayerNormEps, name + ".layer_norm");
    }

    /// <summary>LN(h + W_2 · act(W_1 h)).</summary>
    string FeedForward(Dictionary<string, nn.Module> f, string x, string transformer, string name)
    {
        var hidden = Activation(Dense(f["intermediate"], x, transformer, name + ".intermediate"), name + ".act");
        var norm = (LayerNorm)f["layer_norm"];
        return g.LayerNorm(g.Add(x, Dense(f["output"], hidden, transformer, name + ".output")), norm.weight!, norm.bias!, t.LayerNormEps, name + ".layer_norm");
    }

    /// <summary>A dense weight as <paramref name="transformer"/> computes it: a Linear, or the low-rank form with Σ folded into U.</summary>
    string Dense(nn.Module dense, string x, string transformer, string name)
    {
        switch (dense)
        {
            case Linear l:
                return g.Linear(x, l.weight!, l.bias, name);
            case LowRankSharedLinear lr:
            {
                var f = lr.Factor(transformer);
                var h = g.Linear(x, f.V.weight!, null, name + ".v");                                    // [..., O]
                var norm = g.Node("Max", [g.Node("ReduceL2", [h], name + ".l2", ("axes", new long[] { -1 }), ("keepdims", 1L)), g.Scalar(1e-12f)], name + ".l2_eps");
                var normalized = g.Node("Div", [h, norm], name + ".normalized");
                // (n·Σ)·Uᵀ + b = n·(Σ·Uᵀ) + b: one [O, M] matrix per Transformer and weight.
                var folded = g.Derived(f.Sigma, "folded", name + ".sigma_u",
                    () => f.Sigma.forward().detach().to(float64).matmul(lr.U.weight!.detach().to(float64).t()).to(float32));
                return g.Add(g.Node("MatMul", [normalized, folded], name), g.Weight(lr.U.bias!, name + ".u.bias"));
            }
            default:
                throw new NotSupportedException($"{name}: a dense weight of type {dense.GetType().Name}");
        }
    }

    /// <summary>The feed-forward activation (<see cref="Activations"/>) from ONNX's elementwise ops.</summary>
    string Activation(string x, string name)
    {
        string Mul(string a, string b) => g.Node("Mul", [a, b], name);
        switch (t.HiddenAct)
        {
            case HiddenActivation.Gelu:                                         // 0.5·x·(1 + erf(x/√2))
                var erf = g.Node("Erf", [g.Node("Div", [x, g.Scalar((float)Math.Sqrt(2))], name)], name);
                return Mul(Mul(x, g.Add(erf, g.Scalar(1f))), g.Scalar(0.5f));
            case HiddenActivation.GeluNew:                                      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
                var cube = g.Node("Pow", [x, g.Scalar(3f)], name);
                var inner = Mul(g.Add(x, Mul(cube, g.Scalar(0.044715f))), g.Scalar((float)Math.Sqrt(2 / Math.PI)));
                return Mul(Mul(x, g.Scalar(0.5f)), g.Add(g.Node("Tanh", [inner], name), g.Scalar(1f)));
            case HiddenActivation.Relu: return g.Relu(x);
            case HiddenActivation.Swish: return Mul(x, g.Node("Sigmoid", [x], name));
            case HiddenActivation.Mish: return Mul(x, g.Node("Tanh", [g.Node("Softplus", [x], name)], name));
            case HiddenActivation.Identity: return x;
            default: throw new NotSupportedException($"activation {t.HiddenAct}");
        }
    }
}
