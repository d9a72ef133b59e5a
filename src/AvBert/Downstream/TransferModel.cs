using AvBert.Config;
using AvBert.Downstream.Heads;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Downstream;

/// <summary>What a <see cref="TransferModel"/> puts on top of the pretrained model.</summary>
public sealed record TransferModelOptions(DownstreamTask Task, TransferProtocol Protocol, int NumClasses, double Dropout = 0.5,
                                          double FcInitStd = 0.01, double HeadLayerNormEps = 1e-5);

/// <summary>
/// The pretrained AVBERT model with the task's head(s) (SPEC §8, the reference's classify.py):
/// <list type="bullet">
/// <item><b>visual</b>: visual CNN → pooled [N, Cv] → <see cref="ClassifierHead"/>, one clip per row.</item>
/// <item><b>audio</b>: audio CNN → pooled [N, Ca] → <see cref="ClassifierHead"/>, one window per row.</item>
/// <item><b>audiovisual / multilabel</b>: the whole model on [B, T] clip sequences; per clip, a clip head on the
/// concatenated pooled CNN features [Cv + Ca] and a <see cref="SequenceHead"/> on the Transformer outputs (multimodal
/// Transformer; the modality Transformers under late fusion). Both give logits for every clip: [B·T, C] each.</item>
/// </list>
/// Under the linear protocol the backbone is frozen: no gradients, and it stays in eval mode (BatchNorm uses its
/// running statistics, dropout is off) even while the heads train.
/// </summary>
public sealed class TransferModel : nn.Module
{
    readonly AvBertModel backbone;
    readonly ClassifierHead clip_head;
    readonly SequenceHead? sequence_head;

    public TransferModel(AvBertModel backbone, TransferModelOptions o) : base(nameof(TransferModel))
    {
        Options = o;
        this.backbone = backbone;
        if ((UsesVisual && !backbone.HasVisual) || (UsesAudio && !backbone.HasAudio))
            throw new UserError($"task '{o.Task.ToString().ToLowerInvariant()}' needs the {(UsesVisual && !backbone.HasVisual ? "visual" : "audio")} stream, but the model has " +
                                $"only the {(backbone.HasVisual ? "visual" : "audio")} one (model.modalities: {backbone.Config.Modalities.ToString().ToLowerInvariant()}). " +
                                $"Fix: --task {(backbone.HasVisual ? "visual" : "audio")}, or an audio-visual model.");
        int clipInput = o.Task switch
        {
            DownstreamTask.Visual => backbone.VisualFeatureDim,
            DownstreamTask.Audio => backbone.AudioFeatureDim,
            _ => backbone.VisualFeatureDim + backbone.AudioFeatureDim,
        };
        clip_head = new ClassifierHead(new HeadOptions(clipInput, o.NumClasses, o.Dropout, o.FcInitStd));
        if (UsesSequences)
            sequence_head = new SequenceHead(new HeadOptions(backbone.HiddenSize, o.NumClasses, o.Dropout, o.FcInitStd, o.HeadLayerNormEps));
        RegisterComponents();
        if (Frozen)
            foreach (var p in backbone.parameters()) p.requires_grad = false;
    }

    public TransferModelOptions Options { get; }
    public AvBertModel Backbone => backbone;
    public bool Frozen => Options.Protocol == TransferProtocol.Linear;
    public bool UsesSequences => Options.Task is DownstreamTask.Audiovisual or DownstreamTask.Multilabel;
    public bool UsesVisual => Options.Task != DownstreamTask.Audio;
    public bool UsesAudio => Options.Task != DownstreamTask.Visual;

    /// <summary>Keeps a frozen backbone in eval mode whatever the heads do.</summary>
    public override void train(bool on = true)
    {
        base.train(on);
        if (Frozen) backbone.eval();
    }

    /// <summary>
    /// Logits of every head, each [B·T, C] (one row per clip / window): <paramref name="visual"/> [B, T, 3, F, H, W] and
    /// <paramref name="audio"/> [B, T, 1, FREQ, TIME], as the task needs them (the other may be null).
    /// </summary>
    public IReadOnlyList<Tensor> Forward(Tensor? visual, Tensor? audio)
    {
        switch (Options.Task)
        {
            case DownstreamTask.Visual:
            {
                var clips = Require(visual, "visual");
                using var features = Features(() => backbone.VisualCnnFeatures(clips.flatten(0, 1)));
                return [clip_head.call(features)];
            }
            case DownstreamTask.Audio:
            {
                var clips = Require(audio, "audio");
                using var features = Features(() => backbone.AudioCnnFeatures(clips.flatten(0, 1)));
                return [clip_head.call(features)];
            }
            default:
            {
                var v = Require(visual, "visual");
                var a = Require(audio, "audio");
                using var scope = NewDisposeScope();
                Tensor pooled, visualPairs, audioPairs;
                using (Frozen ? no_grad() : null)
                {
                    var outputs = backbone.forward(v, a);
                    // Clip head input: [B, T, Cv] ; [B, T, Ca] → [B·T, Cv + Ca].
                    pooled = cat([outputs.VisualPooled, outputs.AudioPooled], dim: -1).flatten(0, 1);
                    var (vSeq, aSeq) = SequenceOutputs(outputs.Context);
                    visualPairs = SequenceHead.Pairs(vSeq);
                    audioPairs = SequenceHead.Pairs(aSeq);
                    if (Frozen) { pooled = pooled.detach(); visualPairs = visualPairs.detach(); audioPairs = audioPairs.detach(); }
                }
                var clipLogits = clip_head.call(pooled);
                var sequenceLogits = sequence_head!.call(visualPairs, audioPairs);
                return [clipLogits.MoveToOuterDisposeScope(), sequenceLogits.MoveToOuterDisposeScope()];
            }
        }
    }

    /// <summary>
    /// The visual and audio halves [B, T+1, D] the sequence head reads: the multimodal Transformer's outputs (visual BOS at
    /// 0, audio BOS at T+1), or the modality Transformers' outputs under late fusion.
    /// </summary>
    static (Tensor Visual, Tensor Audio) SequenceOutputs(ContextOutputs context)
    {
        if (context.Multimodal is not null) return (context.MultimodalVisual(), context.MultimodalAudio());
        return (context.Visual ?? throw new InvalidOperationException("no visual Transformer output"),
                context.Audio ?? throw new InvalidOperationException("no audio Transformer output"));
    }

    Tensor Features(Func<Tensor> compute)
    {
        if (!Frozen) return compute();
        using var _ = no_grad();
        return compute().detach();
    }

    static Tensor Require(Tensor? t, string what) =>
        t ?? throw new InvalidOperationException($"this task needs {what} input, but the batch has none");

    /// <summary>The heads' parameters, named as in <see cref="HeadStateDict"/>.</summary>
    public IEnumerable<(string Name, Parameter Param)> HeadParameters() =>
        named_parameters().Where(p => !p.name.StartsWith("backbone."));

    /// <summary>The backbone's parameters (names without the "backbone." prefix).</summary>
    public IEnumerable<(string Name, Parameter Param)> BackboneParameters() => backbone.named_parameters();

    /// <summary>Parameters and buffers of the heads only ("clip_head.*", "sequence_head.*").</summary>
    public Dictionary<string, Tensor> HeadStateDict() =>
        state_dict().Where(kv => !kv.Key.StartsWith("backbone.")).ToDictionary(kv => kv.Key, kv => kv.Value);
}
