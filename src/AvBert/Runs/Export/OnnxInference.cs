using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Export.Onnx;
using AvBert.Model;
using AvBert.Runtime;
using Google.Protobuf;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>What runs the model in `predict` and `extract` (--runtime, docs/export.md).</summary>
public enum InferenceRuntime
{
    /// <summary>TorchSharp (libtorch): the default.</summary>
    Libtorch,
    /// <summary>The model exported to ONNX in memory and run by ONNX Runtime (CPU, or its CUDA provider where installed).</summary>
    Onnx,
}

/// <summary>
/// The model as an ONNX Runtime session for `--runtime onnx`: the graph is built in memory from the loaded model
/// (<see cref="OnnxExport"/>) for the streams the command decodes, so the results are those of `export --format onnx`.
/// </summary>
public sealed class OnnxInference : IDisposable
{
    readonly OnnxRuntimeModel session;
    readonly bool fineTuned;

    OnnxInference(OnnxRuntimeModel session, bool fineTuned) => (this.session, this.fineTuned) = (session, fineTuned);

    /// <summary>"CPU" or "CUDA".</summary>
    public string Provider => session.Provider;

    public static InferenceRuntime Parse(string? name) => (name ?? "libtorch").Trim().ToLowerInvariant() switch
    {
        "libtorch" or "torch" => InferenceRuntime.Libtorch,
        "onnx" => InferenceRuntime.Onnx,
        var s => throw new UserError($"--runtime {s}: unknown. Valid: libtorch (default), onnx."),
    };

    /// <summary>For `extract`: the backbone's graph over <paramref name="streams"/>.</summary>
    public static OnnxInference ForFeatures(AvBertModel model, AvBertConfig config, Modalities streams, bool cuda) =>
        new(OnnxRuntimeModel.Create(OnnxExport.Build(model, config, streams: streams).Model.ToByteArray(), cuda), false);

    /// <summary>For `predict`: the fine-tuned model's graph with its heads.</summary>
    public static OnnxInference ForPrediction(TransferModel transfer, AvBertConfig config, bool cuda) =>
        new(OnnxRuntimeModel.Create(OnnxExport.Build(transfer.Backbone, config, transfer).Model.ToByteArray(), cuda), true);

    static Dictionary<string, Tensor> Inputs(Tensor? visual, Tensor? audio)
    {
        var inputs = new Dictionary<string, Tensor>();
        if (visual is not null) inputs[OnnxExport.VisualInput] = visual;
        if (audio is not null) inputs[OnnxExport.AudioInput] = audio;
        return inputs;
    }

    /// <summary>Every output of the graph by name (extract's tensor names).</summary>
    public Dictionary<string, Tensor> Features(Tensor? visual, Tensor? audio) => session.Run(Inputs(visual, audio));

    /// <summary>The heads' logits in <see cref="TransferModel.Forward"/>'s order (clip head, then sequence head).</summary>
    public IReadOnlyList<Tensor> Logits(Tensor? visual, Tensor? audio)
    {
        if (!fineTuned) throw new InvalidOperationException("not a fine-tuned model's graph");
        var outputs = session.Run(Inputs(visual, audio));
        return outputs.TryGetValue(OnnxExport.SequenceLogits, out var sequence) ? [outputs[OnnxExport.ClipLogits], sequence] : [outputs[OnnxExport.ClipLogits]];
    }

    public void Dispose() => session.Dispose();
}
