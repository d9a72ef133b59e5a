using AvBert.Config;
using AvBert.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Pretraining;

/// <summary>Total loss and its named parts (losses and accuracies) of one pretraining forward pass.</summary>
public sealed record PretrainLosses(Tensor Total, IReadOnlyDictionary<string, Tensor> Parts);

/// <summary>
/// Self-supervised pretraining of AVBERT (SPEC §7): the model plus what only pretraining needs — one learned mask vector
/// per modality, the MEP heads (g and W, per output stream or shared) and the CPP head.
/// <para>forward: CNN embeddings x^v, x^a → for part of the batch, another video's audio (CPP) → mask 15% of the steps
/// of each modality (80/10/10) → Transformers → MEP (InfoNCE against K sampled negatives) on the visual, audio and
/// multimodal outputs at the masked positions, and CPP (BCE) on the BOS outputs. Targets and negatives are the
/// unmasked x, not detached, so the CNNs learn through them.</para>
/// </summary>
public sealed class AvBertPretrainer : nn.Module
{
    readonly AvBertModel model;
    readonly EmbeddingMasker visual_mask, audio_mask;
    readonly NamedModules<MepHead> mep_heads;
    readonly CppHead? cpp_head;
    readonly PretrainConfig _p;
    readonly Fusion _fusion;
    readonly MepStream[] _streams;

    public AvBertPretrainer(AvBertModel model, ModelConfig modelConfig, PretrainConfig pretrain) : base(nameof(AvBertPretrainer))
    {
        _p = pretrain;
        _fusion = modelConfig.Fusion;
        int hidden = model.HiddenSize;
        var t = modelConfig.Transformer;
        // Streams that exist for this fusion mode: early has no modality Transformers, late no multimodal one.
        _streams = pretrain.MepStreams.Where(s => s switch
        {
            MepStream.Multimodal => _fusion != Fusion.Late,
            _ => _fusion != Fusion.Early,
        }).ToArray();
        if (_streams.Length == 0 && CorrectPairPrediction.SwapCount(2, pretrain.CppFraction) == 0)
            throw new Runtime.UserError($"pretrain.mep_streams [{string.Join(", ", pretrain.MepStreams).ToLowerInvariant()}] has no stream that " +
                                        $"model.fusion {_fusion.ToString().ToLowerInvariant()} produces, and CPP is off: nothing to train. " +
                                        "Fix: add multimodal (early fusion) or visual/audio (late fusion) to pretrain.mep_streams.");
        this.model = model;
        var masking = new MaskingOptions(pretrain.MaskProb, pretrain.MaskTokenFraction, pretrain.MaskRandomFraction);
        visual_mask = new EmbeddingMasker("visual_mask", hidden, masking, t.InitializerRange);
        audio_mask = new EmbeddingMasker("audio_mask", hidden, masking, t.InitializerRange);
        mep_heads = new NamedModules<MepHead>(HeadNames().Select(name => (name, new MepHead(name, hidden, t.LayerNormEps))));
        if (pretrain.CppFraction > 0) cpp_head = new CppHead("cpp_head", hidden, pretrain.CppInput, t.LayerNormEps);
        RegisterComponents();
        InitializeHeads(t.InitializerRange);
    }

    /// <summary>Head linears N(0, initializer_range) with zero biases, as the model's own linears (BERT); W stays the identity.</summary>
    void InitializeHeads(double range)
    {
        using var _ = no_grad();
        foreach (var head in new nn.Module?[] { mep_heads, cpp_head })
        {
            if (head is null) continue;
            foreach (var (_, m) in head.named_modules())
                if (m is TorchSharp.Modules.Linear linear)
                {
                    linear.weight!.normal_(0, range);
                    linear.bias?.zero_();
                }
        }
    }

    public AvBertModel Model => model;
    /// <summary>What the CPP head reads (pretrain.cpp_pooling).</summary>
    public CppPooling CppPooling => _p.CppPooling;
    /// <summary>The MEP streams this model and config train (after leaving out those the fusion mode lacks).</summary>
    public IReadOnlyList<MepStream> Streams => _streams;

    IEnumerable<string> HeadNames() => _p.ShareMepHeads ? (_streams.Length > 0 ? ["shared"] : []) : _streams.Select(StreamName);
    MepHead Head(MepStream s) => mep_heads.Get(_p.ShareMepHeads ? "shared" : StreamName(s));
    static string StreamName(MepStream s) => s.ToString().ToLowerInvariant();

    /// <summary>visual [B,T,3,F,H,W], audio [B,T,1,FREQ,TIME] → losses.</summary>
    public PretrainLosses forward(Tensor visual, Tensor audio)
    {
        var xv = model.EncodeVisual(visual);                                   // [B,T,D]
        var xa = model.EncodeAudio(audio);                                     // [B,T,D]
        long B = xv.shape[0], T = xv.shape[1];

        // CPP: part of the batch gets another video's audio sequence (a derangement); MEP targets follow the swap.
        bool cpp = cpp_head is not null && CorrectPairPrediction.SwapCount(B, _p.CppFraction) > 0;
        CppPairing? pairing = null;
        if (cpp)
        {
            pairing = CorrectPairPrediction.Pair(B, _p.CppFraction, xv.device);
            xa = xa.index_select(0, pairing.AudioSource);
        }

        var mv = visual_mask.Mask(xv);
        var ma = audio_mask.Mask(xa);
        var ctx = model.Contextualize(mv.Input, ma.Input);
        // Heads and losses in float32 under mixed precision (the bf16 region ends with the Transformers).
        using var fp32 = Runtime.Autocast.Disabled(xv.device);
        ctx = new ContextOutputs(ctx.Visual?.to(float32), ctx.Audio?.to(float32), ctx.Multimodal?.to(float32));
        xv = xv.to(float32);
        xa = xa.to(float32);

        var parts = new Dictionary<string, Tensor>();
        var mepLosses = new List<Tensor>();
        foreach (var stream in _streams)
        {
            Tensor loss, acc;
            switch (stream)
            {
                case MepStream.Visual:
                    (loss, acc) = Mep(Head(stream), ctx.Visual![.., 1..], xv, mv.Positions);
                    break;
                case MepStream.Audio:
                    (loss, acc) = Mep(Head(stream), ctx.Audio![.., 1..], xa, ma.Positions);
                    break;
                default:
                {
                    // Multimodal sequence [B,2(T+1),D]: visual BOS at 0, clips 1..T; audio BOS at T+1, clips T+2..2T+1.
                    var m = ctx.Multimodal!;
                    var (lv, av) = Mep(Head(stream), m[.., 1..(int)(T + 1)], xv, mv.Positions);
                    var (la, aa) = Mep(Head(stream), m[.., (int)(T + 2)..], xa, ma.Positions);
                    loss = (lv + la) / 2;
                    acc = (av + aa) / 2;
                    break;
                }
            }
            parts[$"loss_mep_{StreamName(stream)}"] = loss;
            parts[$"acc_mep_{StreamName(stream)}"] = acc;
            mepLosses.Add(loss);
        }

        Tensor total = zeros([], device: xv.device);
        if (mepLosses.Count > 0)
        {
            var mep = stack(mepLosses).sum();
            if (_p.MepReduction == LossReduction.Mean) mep = mep / mepLosses.Count;
            parts["loss_mep"] = mep;
            total = total + mep;
        }
        if (cpp)
        {
            var (vIn, aIn) = CppInputs(ctx, T, _p.CppPooling);
            var (lossCpp, accCpp) = CorrectPairPrediction.Loss(cpp_head!.call(vIn, aIn), pairing!.Labels);
            parts["loss_cpp"] = lossCpp;
            parts["acc_cpp"] = accCpp;
            total = total + _p.CppWeight * lossCpp;
        }
        parts["loss"] = total;
        return new PretrainLosses(total, parts);
    }

    /// <summary>
    /// What the CPP head reads, [B,D] per modality: the multimodal Transformer's visual and audio BOS outputs (or, with
    /// <see cref="CppPooling.Mean"/>, its visual and audio clip outputs averaged); without a multimodal Transformer, the
    /// modality Transformers' outputs.
    /// </summary>
    public static (Tensor Visual, Tensor Audio) CppInputs(ContextOutputs ctx, long T, CppPooling pooling)
    {
        int t = (int)T;
        if (ctx.Multimodal is { } m)
            return pooling == CppPooling.Bos ? (m[.., 0], m[.., t + 1]) : (m[.., 1..(t + 1)].mean([1]), m[.., (t + 2)..].mean([1]));
        return pooling == CppPooling.Bos ? (ctx.Visual![.., 0], ctx.Audio![.., 0]) : (ctx.Visual![.., 1..].mean([1]), ctx.Audio![.., 1..].mean([1]));
    }

    (Tensor, Tensor) Mep(MepHead head, Tensor outputs, Tensor targets, Tensor positions) =>
        MaskedEmbeddingPrediction.Loss(head, outputs, targets, positions, _p.Sampler, _p.Negatives, _p.CansIntervalSigma,
                                       _p.MepScore, _p.MepTemperature, _p.DetachMepTargets);
}
