using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Model;
using AvBert.Runtime;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace AvBert.Export.Onnx;

/// <summary>The graph `export --format onnx` built: its inputs and outputs (name and dims; a name is a dynamic axis).</summary>
public sealed record OnnxGraphInfo(IReadOnlyList<(string Name, string[] Dims)> Inputs, IReadOnlyList<(string Name, string[] Dims)> Outputs,
                                   int Initializers, long Bytes);

/// <summary>
/// Our model's forward pass (eval mode) as an ONNX graph (opset 17, docs/export.md), built by walking its modules
/// (<see cref="CnnExporter"/>, <see cref="TransformerExporter"/>, <see cref="HeadExporter"/>). Inputs: <c>visual</c>
/// [batch, clips, 3, F, H, W] and <c>audio</c> [batch, clips, 1, FREQ, TIME] (the streams the model reads), batch and
/// clip axes dynamic (the spatial ones too, unless the visual head pools a window: then fixed at data.num_frames ×
/// data.test_crop_size²). Outputs named as `extract` names its tensors: <c>visual_pooled</c>, <c>audio_pooled</c>,
/// <c>visual_embeddings</c>, <c>audio_embeddings</c>, <c>visual_transformer</c>, <c>audio_transformer</c>,
/// <c>multimodal_transformer</c> (those the model and fusion mode have), and for a fine-tuned model
/// <c>clip_logits</c> (and <c>sequence_logits</c>), [batch·clips, classes].
/// </summary>
public static class OnnxExport
{
    public const string VisualInput = "visual", AudioInput = "audio";
    public const string ClipLogits = "clip_logits", SequenceLogits = "sequence_logits";

    /// <param name="transfer">a fine-tuned model (its backbone is <paramref name="model"/>) whose heads join the graph; null for the backbone alone</param>
    /// <param name="streams">the inputs the graph takes (default: what the model, or the fine-tuned task, reads); the
    /// Transformers run only when these are all the model's streams</param>
    public static (ModelProto Model, OnnxGraphInfo Info) Build(AvBertModel model, AvBertConfig config, TransferModel? transfer = null,
                                                                Modalities? streams = null, string source = "--model")
    {
        if (model.HasVisual && model.Config.Visual.Arch != VisualCnnArch.Resnet)
            throw new UserError($"{source}: 'model.visual.arch: {model.Config.Visual.Arch.ToString().ToLowerInvariant()}' is not exported to ONNX " +
                                "(the graph covers the single-pathway ResNet). Fix: run it with the libtorch runtime (the default), or export a model with model.visual.arch: resnet.");
        var modelStreams = model.Config.Modalities;
        var inputs = streams ?? (transfer is null ? modelStreams : TaskViews.ModalitiesOf(transfer.Options.Task) & modelStreams);
        bool contextualize = inputs == modelStreams && (transfer is null || transfer.UsesSequences);
        var g = new OnnxGraph();
        var infoIn = new List<(string, string[])>();
        var infoOut = new List<(string, string[])>();
        void Output(string value, string name, params string[] dims)
        {
            g.Output(value, name, dims);
            infoOut.Add((name, dims));
        }
        var parts = CnnExporter.Children(model);
        var d = config.Data;
        var t = model.Config.Transformer;
        string D = t.HiddenSize.ToString(System.Globalization.CultureInfo.InvariantCulture);

        using var _ = no_grad();
        string? pooledV = null, pooledA = null, flatV = null, flatA = null, xv = null, xa = null;
        // One stream: input [batch, clips, ...] → CNN on the flattened clips → pooled [batch, clips, C] → x = LN(Linear(pooled)).
        (string Flat, string Pooled, string X) Stream(string stream, string[] dims, Func<string, string> cnn, int channels)
        {
            var input = g.Input(stream, dims);
            infoIn.Add((stream, dims));
            var flat = cnn(Flatten(g, input));
            var pooled = Unflatten(g, flat, input);
            var proj = (TorchSharp.Modules.Linear)parts[stream + "_projection"];
            var norm = (TorchSharp.Modules.LayerNorm)parts[stream + "_norm"];
            var x = g.LayerNorm(g.Linear(pooled, proj.weight!, proj.bias, stream + "_projection"), norm.weight!, norm.bias!, t.LayerNormEps, stream + "_norm");
            Output(pooled, stream + "_pooled", "batch", "clips", channels.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Output(x, stream + "_embeddings", "batch", "clips", D);
            return (flat, pooled, x);
        }
        if (inputs.HasFlag(Modalities.Visual))
        {
            var cnn = (VisualResNet3D)model.VisualCnn;
            var (kernel, fixedDims) = PoolKernel(cnn, model.Config.Visual, d);
            (flatV, pooledV, xv) = Stream(VisualInput, ["batch", "clips", "3", .. fixedDims ?? ["frames", "height", "width"]],
                                          clips => CnnExporter.Visual(g, cnn, clips, kernel), model.VisualFeatureDim);
        }
        if (inputs.HasFlag(Modalities.Audio))
            (flatA, pooledA, xa) = Stream(AudioInput, ["batch", "clips", "1", "frequency", "time"], clips => CnnExporter.Audio(g, model.AudioCnn, clips), model.AudioFeatureDim);
        (string? V, string? A, string? M) context = (null, null, null);
        if (contextualize)
        {
            context = new TransformerExporter(g, model).Contextualize(xv, xa);
            if (context.V is { } v) Output(v, "visual_transformer", "batch", "positions", D);
            if (context.A is { } a) Output(a, "audio_transformer", "batch", "positions", D);
            if (context.M is { } m) Output(m, "multimodal_transformer", "batch", "positions", D);
        }
        if (transfer is not null)
        {
            string classes = transfer.Options.NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var features = transfer.Options.Task switch
            {
                DownstreamTask.Visual => flatV!,
                DownstreamTask.Audio => flatA!,
                _ => g.Reshape(g.Concat(-1, pooledV!, pooledA!), g.Ints(-1, model.VisualFeatureDim + model.AudioFeatureDim)),
            };
            Output(HeadExporter.Clip(g, transfer, features), ClipLogits, "views", classes);
            if (transfer.UsesSequences)
            {
                var (vSeq, aSeq) = context.M is { } m
                    ? (g.Slice(m, g.Ints(0), Half(g, m), 1), g.Slice(m, Half(g, m), g.Ints(long.MaxValue), 1))
                    : (context.V!, context.A!);
                Output(HeadExporter.Sequence(g, transfer, vSeq, aSeq), SequenceLogits, "views", classes);
            }
        }
        var metadata = new Dictionary<string, string>
        {
            ["avbert.config"] = ConfigLoader.ToYaml(config),
            ["avbert.outputs"] = "pooled CNN features [batch, clips, C]; x^v, x^a [batch, clips, D]; Transformer outputs [batch, positions, D] (BOS at 0; multimodal: visual BOS at 0, audio BOS at T+1); logits [batch·clips, classes]",
        };
        if (transfer is not null) metadata["avbert.class_names"] = string.Join("\n", config.Downstream.ClassNames);
        var proto = g.ToModel(typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "", metadata);
        return (proto, new OnnxGraphInfo(infoIn, infoOut, proto.Graph.Initializer.Count, proto.CalculateSize()));
    }

    /// <summary>Writes the graph to <paramref name="path"/> (atomically).</summary>
    public static OnnxGraphInfo Write(string path, AvBertModel model, AvBertConfig config, TransferModel? transfer = null, string source = "--model")
    {
        var (proto, info) = Build(model, config, transfer, source: source);
        AvBert.Storage.AtomicFile.WriteAllBytes(path, proto.ToByteArray());
        return info;
    }

    /// <summary>[batch, clips, C, ...] → [batch·clips, C, ...].</summary>
    static string Flatten(OnnxGraph g, string x) => g.Reshape(x, g.Ints(-1), g.Node("Shape", [x], "clip_shape", ("start", 2L)));

    /// <summary>[batch·clips, C] → [batch, clips, C] (batch and clips from the input <paramref name="x"/>).</summary>
    static string Unflatten(OnnxGraph g, string pooled, string x) => g.Reshape(pooled, g.Dim(x, 0), g.Dim(x, 1), g.Ints(-1));

    /// <summary>Half the multimodal sequence's length: where the audio half starts.</summary>
    static string Half(OnnxGraph g, string m) => g.Node("Div", [g.Dim(m, 1), g.Ints(2)], "half");

    /// <summary>
    /// The visual head's window clamped to the map at data.num_frames × data.test_crop_size² (null: the global mean), and
    /// the input dims fixed to that geometry when a window is configured (its clamping depends on the map).
    /// </summary>
    static (long[]? Kernel, string[]? FixedDims) PoolKernel(VisualResNet3D cnn, VisualCnnConfig v, DataConfig d)
    {
        if (v.PoolWindow.Length == 0) return (null, null);
        string[] dims = [d.NumFrames.ToString(System.Globalization.CultureInfo.InvariantCulture),
                         d.TestCropSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
                         d.TestCropSize.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        using var clip = zeros([1, 3, d.NumFrames, d.TestCropSize, d.TestCropSize]);
        using var map = cnn.FeatureMap(clip);
        var kernel = v.PoolWindow.Select((k, i) => Math.Min(k, map.shape[2 + i])).ToArray();
        bool covers = kernel.Select((k, i) => k == map.shape[2 + i]).All(x => x);
        return (covers ? null : kernel, dims);
    }
}
