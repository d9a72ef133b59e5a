using AvBert.Config;
using AvBert.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>Outputs of the Transformers. Position 0 of each modality sequence is its BOS; clip t is at position t+1.</summary>
/// <param name="Visual">visual Transformer output [B, T+1, D]; null for early fusion</param>
/// <param name="Audio">audio Transformer output [B, T+1, D]; null for early fusion</param>
/// <param name="Multimodal">multimodal Transformer output [B, 2(T+1), D]: visual BOS at 0, audio BOS at T+1; null for late fusion</param>
public sealed record ContextOutputs(Tensor? Visual, Tensor? Audio, Tensor? Multimodal)
{
    // The multimodal sequence is [vBOS, v1..vT, aBOS, a1..aT]: [B, 2(T+1), D], the visual half first. The parts are
    // methods, not properties, so that the record's ToString and equality never slice (or throw under late fusion).
    Tensor MultimodalOutputs => Multimodal ?? throw new InvalidOperationException("the model has no multimodal Transformer (model.fusion late)");
    long HalfLength => MultimodalOutputs.shape[1] / 2;

    /// <summary>The multimodal Transformer's visual half [B, T+1, D]: visual BOS, then the T visual clips.</summary>
    public Tensor MultimodalVisual() => MultimodalOutputs.narrow(1, 0, HalfLength);
    /// <summary>The multimodal Transformer's audio half [B, T+1, D]: audio BOS, then the T audio clips.</summary>
    public Tensor MultimodalAudio() => MultimodalOutputs.narrow(1, HalfLength, HalfLength);
    /// <summary>The multimodal outputs at the visual clips [B, T, D] (BOS left out).</summary>
    public Tensor MultimodalVisualClips() => MultimodalOutputs.narrow(1, 1, HalfLength - 1);
    /// <summary>The multimodal outputs at the audio clips [B, T, D] (BOS left out).</summary>
    public Tensor MultimodalAudioClips() => MultimodalOutputs.narrow(1, HalfLength + 1, HalfLength - 1);
    /// <summary>The multimodal output at the visual BOS [B, D].</summary>
    public Tensor MultimodalVisualBos() => MultimodalOutputs.select(1, 0);
    /// <summary>The multimodal output at the audio BOS [B, D].</summary>
    public Tensor MultimodalAudioBos() => MultimodalOutputs.select(1, HalfLength);
}

/// <param name="VisualPooled">pooled visual CNN features [B, T, Cv] (before the projection)</param>
/// <param name="AudioPooled">pooled audio CNN features [B, T, Ca]</param>
/// <param name="Xv">projected, normalised visual embeddings x^v [B, T, D]</param>
/// <param name="Xa">projected, normalised audio embeddings x^a [B, T, D]</param>
public sealed record AvBertOutputs(Tensor VisualPooled, Tensor AudioPooled, Tensor Xv, Tensor Xa, ContextOutputs Context);

/// <summary>
/// AVBERT (SPEC §1): per clip, a visual 3D ResNet and an audio 2D ResNet, each average-pooled, projected to D and
/// layer-normalised (x^v, x^a); then BOS + embeddings + the visual, audio and multimodal Transformers as the fusion mode
/// says, with the Transformer weights shared as the sharing settings say (SPEC §6).
/// <see cref="EncodeVisual"/>/<see cref="EncodeAudio"/> and <see cref="Contextualize"/> are separate so that
/// pretraining can mask x^v, x^a in between.
/// </summary>
public sealed class AvBertModel : Module<Tensor, Tensor, AvBertOutputs>
{
    public const string Visual = "visual", Audio = "audio", Multimodal = "multimodal";

    // Null in a single-modality model (model.modalities visual or audio) for the stream it lacks.
    readonly Module<Tensor, Tensor>? visual_cnn;   // VisualResNet3D or VisualSlowFast (model.visual.arch)
    readonly AudioResNet2D? audio_cnn;
    readonly Linear? visual_projection, audio_projection;
    readonly LayerNorm? visual_norm, audio_norm;
    readonly BosEmbeddings bos;
    readonly ModalityEmbeddings? visual_embeddings, audio_embeddings;
    readonly MultimodalEmbeddings? multimodal_embeddings;
    // Weight stacks, registered under their names below (a dictionary is not picked up by RegisterComponents).
    readonly Dictionary<string, TransformerEncoder> stacks = new();
    // How each Transformer runs (bound views of the stacks; they own nothing).
    readonly Dictionary<string, Module<Tensor, Tensor>> transformers = new();

    public ModelConfig Config { get; }
    public int VisualFeatureDim { get; }
    public int AudioFeatureDim { get; }
    public int HiddenSize { get; }

    /// <summary>Builds the model after checking <paramref name="data"/> against it as a config load would (the
    /// Transformers need a position per clip of data.sequence_length plus BOS).</summary>
    public AvBertModel(ModelConfig model, DataConfig data) : this(Checked(model, data)) { }

    static ModelConfig Checked(ModelConfig model, DataConfig data)
    {
        ConfigValidator.Validate(new AvBertConfig { Model = model, Data = data }, "model config");
        return model;
    }

    public AvBertModel(ModelConfig model) : base(nameof(AvBertModel))
    {
        ConfigValidator.ValidateModel(model, "model config");
        Config = model;
        var t = model.Transformer;
        HiddenSize = t.HiddenSize;

        HasVisual = model.Modalities != Modalities.Audio;
        HasAudio = model.Modalities != Modalities.Visual;
        if (HasVisual)
        {
            visual_cnn = VisualCnns.Build(model.Visual);
            VisualFeatureDim = VisualCnns.FeatureDim(model.Visual);
            visual_projection = Linear(VisualFeatureDim, t.HiddenSize);
            visual_norm = LayerNorm(t.HiddenSize, t.LayerNormEps);
        }
        if (HasAudio)
        {
            audio_cnn = new AudioResNet2D(model.Audio);
            AudioFeatureDim = audio_cnn.OutputChannels;
            audio_projection = Linear(AudioFeatureDim, t.HiddenSize);
            audio_norm = LayerNorm(t.HiddenSize, t.LayerNormEps);
        }
        var present = new List<Modality>();
        if (HasVisual) present.Add(Modality.Visual);
        if (HasAudio) present.Add(Modality.Audio);
        bos = new BosEmbeddings(t.HiddenSize, t.BosMeanPooling, t.LayerNormEps, present);
        if (model.Fusion != Fusion.Early)
        {
            if (HasVisual) visual_embeddings = new ModalityEmbeddings(t);
            if (HasAudio) audio_embeddings = new ModalityEmbeddings(t);
        }
        if (model.Fusion != Fusion.Late) multimodal_embeddings = new MultimodalEmbeddings(t);
        RegisterComponents();

        foreach (var (stackName, users, lowRank) in TransformerSharing.Plan(model))
        {
            var stack = new TransformerEncoder(t, lowRank);
            register_module(stackName, stack);
            stacks[stackName] = stack;
            foreach (var user in users) transformers[user] = stack.For(user);
        }
        InitializeWeights();
    }

    // The clip sizes whose convolutions the CPU self-check has proven for this model (docs/cpu-correctness.md).
    readonly HashSet<string> checkedClips = new();

    /// <summary>Before a CNN's first CPU convolutions at a clip size: the guard proves them on this machine (cached, so
    /// usually a file read), moving to a safe convolution path where the fast one crashes or computes wrongly. A model
    /// that is only built (params, convert) never runs it.</summary>
    void CheckConvolutions(string stream, Tensor clips)
    {
        if (clips.device_type != DeviceType.CPU) return;
        var clip = clips.shape[1..];
        var key = stream + string.Join("x", clip);
        lock (checkedClips)
        {
            if (checkedClips.Contains(key)) return;
            ConvolutionGuard.Default.Ensure(stream == Visual ? ConvolutionShapes.Visual(VisualCnn, Config.Visual, clip) : ConvolutionShapes.Audio(AudioCnn, Config.Audio, clip));
            checkedClips.Add(key);
        }
    }

    /// <summary>[N, 3, F, H, W] → the visual CNN's pooled features [N, Cv].</summary>
    public Tensor VisualCnnFeatures(Tensor clips)
    {
        CheckConvolutions(Visual, clips);
        return VisualCnn.call(clips);
    }

    /// <summary>[N, 1, FREQ, TIME] → the audio CNN's pooled features [N, Ca].</summary>
    public Tensor AudioCnnFeatures(Tensor clips)
    {
        CheckConvolutions(Audio, clips);
        return AudioCnn.call(clips);
    }

    /// <summary>Whether the model has the visual / audio stream (both unless model.modalities says one).</summary>
    public bool HasVisual { get; }
    public bool HasAudio { get; }

    public Module<Tensor, Tensor> VisualCnn => visual_cnn ?? throw Missing(Visual);
    public AudioResNet2D AudioCnn => audio_cnn ?? throw Missing(Audio);

    UserError Missing(string modality) =>
        new($"this model has no {modality} stream (model.modalities: {Config.Modalities.ToString().ToLowerInvariant()}); " +
            "single-modality models run in convert, forward, params, pretrain, extract and the fine-tuning task of their stream " +
            "(finetune/eval/predict --task visual or audio). Fix: use an audio-visual model here.");

    /// <summary>The Transformers this fusion mode has: visual, audio, multimodal (mid); visual, audio (late); multimodal (early).</summary>
    public IReadOnlyList<string> TransformerNames => transformers.Keys.ToList();

    /// <summary>The registered weight stacks: "transformer" when shared across Transformers, else one per Transformer.</summary>
    public IReadOnlyDictionary<string, TransformerEncoder> TransformerStacks => stacks;

    /// <summary>[B, T, 3, F, H, W] → pooled visual CNN features [B, T, Cv].</summary>
    public Tensor PoolVisual(Tensor clips)
    {
        long b = clips.shape[0], n = clips.shape[1];
        var flat = clips.reshape([b * n, .. clips.shape[2..]]);
        return VisualCnnFeatures(flat).view(b, n, -1);
    }

    /// <summary>[B, T, 1, FREQ, TIME] → pooled audio CNN features [B, T, Ca].</summary>
    public Tensor PoolAudio(Tensor clips)
    {
        long b = clips.shape[0], n = clips.shape[1];
        var flat = clips.reshape([b * n, .. clips.shape[2..]]);
        return AudioCnnFeatures(flat).view(b, n, -1);
    }

    /// <summary>Pooled [B, T, Cv] → x^v = LayerNorm(Linear(pooled)) [B, T, D].</summary>
    public Tensor ProjectVisual(Tensor pooled) => (visual_norm ?? throw Missing(Visual)).call(visual_projection!.call(pooled));

    /// <summary>Pooled [B, T, Ca] → x^a [B, T, D].</summary>
    public Tensor ProjectAudio(Tensor pooled) => (audio_norm ?? throw Missing(Audio)).call(audio_projection!.call(pooled));

    /// <summary>[B, T, 3, F, H, W] → x^v [B, T, D] (CNN, pool, Linear, LayerNorm).</summary>
    public Tensor EncodeVisual(Tensor clips) => ProjectVisual(PoolVisual(clips));

    /// <summary>[B, T, 1, FREQ, TIME] → x^a [B, T, D].</summary>
    public Tensor EncodeAudio(Tensor clips) => ProjectAudio(PoolAudio(clips));

    /// <summary>x^v, x^a [B, T, D] → BOS + embeddings + Transformers per the fusion mode (a single-modality model
    /// takes its one stream and null for the other).</summary>
    public ContextOutputs Contextualize(Tensor? xv, Tensor? xa)
    {
        if (HasVisual != xv is not null || HasAudio != xa is not null)
            throw new ArgumentException($"the model takes {(HasVisual ? "x^v" : "")}{(HasVisual && HasAudio ? " and " : "")}{(HasAudio ? "x^a" : "")}");
        using var sigmas = OrthogonalMatrix.Pass(this);         // each Σ_i once for all its layers
        var visualSeq = xv is null ? null : bos.Prepend(xv, Modality.Visual);      // [B, T+1, D]
        var audioSeq = xa is null ? null : bos.Prepend(xa, Modality.Audio);
        switch (Config.Fusion)
        {
            case Fusion.Early:
                return new ContextOutputs(null, null, transformers[Multimodal].call(multimodal_embeddings!.call(visualSeq!, audioSeq!)));
            case Fusion.Late:
                return new ContextOutputs(visualSeq is null ? null : transformers[Visual].call(visual_embeddings!.call(visualSeq)),
                                          audioSeq is null ? null : transformers[Audio].call(audio_embeddings!.call(audioSeq)), null);
            default:
                var yv = transformers[Visual].call(visual_embeddings!.call(visualSeq!));
                var ya = transformers[Audio].call(audio_embeddings!.call(audioSeq!));
                return new ContextOutputs(yv, ya, transformers[Multimodal].call(multimodal_embeddings!.call(yv, ya)));
        }
    }

    /// <summary>visual [B, T, 3, F, H, W], audio [B, T, 1, FREQ, TIME] → everything, pooled CNN features included.</summary>
    public override AvBertOutputs forward(Tensor visual, Tensor audio)
    {
        var vp = PoolVisual(visual);
        var ap = PoolAudio(audio);
        var xv = ProjectVisual(vp);
        var xa = ProjectAudio(ap);
        return new AvBertOutputs(vp, ap, xv, xa, Contextualize(xv, xa));
    }

    /// <summary>
    /// Training-from-scratch initialisation, following the reference: convs Kaiming-normal (fan-out, ReLU), BN 1/0 with
    /// the last BN of every residual branch 0 (when configured), linears and embeddings N(0, initializer_range) with zero
    /// biases, LayerNorms 1/0, orthogonal parameters the Cayley (or Henaff) start with an identity base.
    /// </summary>
    public void InitializeWeights()
    {
        var t = Config.Transformer;
        using var _ = no_grad();
        foreach (var (_, m) in named_modules())
        {
            switch (m)
            {
                case Conv3d c: init.kaiming_normal_(c.weight!, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU); break;
                case Conv2d c: init.kaiming_normal_(c.weight!, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU); break;
                case TorchSharp.Modules.BatchNorm bn: bn.weight!.fill_(1); bn.bias!.zero_(); break;
                case LayerNorm ln: ln.weight!.fill_(1); ln.bias!.zero_(); break;
                case Linear l:
                    init.normal_(l.weight!, 0, t.InitializerRange);
                    l.bias?.zero_();
                    break;
                case Embedding e: init.normal_(e.weight!, 0, t.InitializerRange); break;
                case OrthogonalMatrix o: o.ResetParameters(t.OrthogonalInit); break;
            }
        }
        foreach (var (_, m) in named_modules())
        {
            switch (m)
            {
                case ResNetBottleneck3D b when Config.Visual.ZeroInitFinalBn: b.FinalBn.weight!.zero_(); break;
                case ResNetBasicBlock3D b when Config.Visual.ZeroInitFinalBn: b.FinalBn.weight!.zero_(); break;
                case ResNetBottleneck2D b when Config.Audio.ZeroInitFinalBn: b.FinalBn.weight!.zero_(); break;
                case ResNetBasicBlock2D b when Config.Audio.ZeroInitFinalBn: b.FinalBn.weight!.zero_(); break;
            }
        }
    }
}

/// <summary>Which weight stacks exist and which Transformers run each (SPEC §6).</summary>
public static class TransformerSharing
{
    /// <summary>The Transformers of a model, in the reference's index order (visual 0, audio 1, multimodal 2; a
    /// single-modality model's one Transformer 0).</summary>
    public static IReadOnlyList<string> TransformersOf(ModelConfig model) => (model.Fusion, model.Modalities) switch
    {
        (Fusion.Early, _) => [AvBertModel.Multimodal],
        (Fusion.Late, Modalities.Visual) => [AvBertModel.Visual],
        (Fusion.Late, Modalities.Audio) => [AvBertModel.Audio],
        (Fusion.Late, _) => [AvBertModel.Visual, AvBertModel.Audio],
        _ => [AvBertModel.Visual, AvBertModel.Audio, AvBertModel.Multimodal],
    };

    /// <summary>Name of the stack that holds a Transformer's own weights when nothing is shared across Transformers.</summary>
    public static string OwnStackName(string transformer) => transformer + "_transformer";

    /// <summary>The shared stack's name.</summary>
    public const string SharedStackName = "transformer";

    /// <summary>(stack name, Transformers using it, low-rank factorisation or null).</summary>
    public static IEnumerable<(string Stack, IReadOnlyList<string> Users, LowRankOptions? LowRank)> Plan(ModelConfig model)
    {
        var t = model.Transformer;
        var names = TransformersOf(model);
        LowRankOptions LowRank(IReadOnlyList<string> users) => new(t.Rank, users, t.OrthogonalMap, t.OrthogonalInit);
        switch (t.ShareAcrossTransformers)
        {
            case CrossTransformerSharing.All when names.Count > 1:
                yield return (SharedStackName, names, null);
                break;
            case CrossTransformerSharing.Partial when names.Count > 1:
                yield return (SharedStackName, names, LowRank(names));
                break;
            default:
                bool factorised = t.ShareAcrossTransformers is CrossTransformerSharing.Partial or CrossTransformerSharing.LowRank;
                foreach (var n in names) yield return (OwnStackName(n), [n], factorised ? LowRank([n]) : null);
                break;
        }
    }
}
