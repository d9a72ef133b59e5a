using AvBert.Config;
using AvBert.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Pretraining;

/// <summary>Total loss and its named parts (losses and accuracies) of one pretraining forward pass.</summary>
public sealed record PretrainLosses(Tensor Total, IReadOnlyDictionary<string, Tensor> Parts);

/// <summary>What the pretraining objective needs of the pretrain section: masking, MEP (streams, heads, scoring) and CPP.</summary>
/// <param name="MepStreams">Output streams MEP is computed on.</param>
/// <param name="ShareMepHeads">One MEP head for all streams.</param>
/// <param name="MepReduction">Sum or mean of the streams' MEP losses.</param>
public sealed record PretrainObjectiveOptions(MaskingOptions Masking, MepOptions Mep, IReadOnlyList<MepStream> MepStreams,
                                              bool ShareMepHeads, LossReduction MepReduction, CppOptions Cpp)
{
    public static PretrainObjectiveOptions From(PretrainConfig p) => new(
        new MaskingOptions(p.MaskProb, p.MaskTokenFraction, p.MaskRandomFraction),
        new MepOptions(p.Sampler, p.Negatives, p.CansIntervalSigma, p.MepScore, p.MepTemperature, p.DetachMepTargets),
        p.MepStreams, p.ShareMepHeads, p.MepReduction,
        new CppOptions(p.CppFraction, p.CppWeight, p.CppInput, p.CppPooling, p.CppMasked, p.CppExtraPairs));
}

/// <summary>
/// Self-supervised pretraining of AVBERT (SPEC §7): the model plus what only pretraining needs — one learned mask vector
/// per modality, the MEP heads (g and W, per output stream or shared) and the CPP head.
/// <para>forward: CNN embeddings x^v, x^a → for part of the batch, another video's audio (CPP) → mask 15% of the steps
/// of each modality (80/10/10) → Transformers → MEP (InfoNCE against K sampled negatives) on the visual, audio and
/// multimodal outputs at the masked positions, and CPP (BCE) on the BOS outputs. Targets and negatives are the
/// unmasked x, not detached, so the CNNs learn through them.</para>
/// <para>A single-modality model (V-BERT / A-BERT) trains MEP on its one stream: no CPP, no multimodal stream.</para>
/// </summary>
public sealed class AvBertPretrainer : nn.Module
{
    readonly AvBertModel model;
    readonly EmbeddingMasker? visual_mask, audio_mask;
    readonly NamedModules<MepHead> mep_heads;
    readonly CppHead? cpp_head;
    readonly PretrainObjectiveOptions _o;
    readonly Fusion _fusion;
    readonly MepStream[] _streams;

    /// <summary>The objective the pretrain section describes (kept for callers that hold a whole config).</summary>
    public AvBertPretrainer(AvBertModel model, ModelConfig modelConfig, PretrainConfig pretrain)
        : this(model, modelConfig, PretrainObjectiveOptions.From(pretrain)) { }

    public AvBertPretrainer(AvBertModel model, ModelConfig modelConfig, PretrainObjectiveOptions objective) : base(nameof(AvBertPretrainer))
    {
        _o = objective;
        _fusion = modelConfig.Fusion;
        int hidden = model.HiddenSize;
        var t = modelConfig.Transformer;
        // Streams that exist for this model: early fusion has no modality Transformers, late no multimodal one, a
        // single-modality model only its own stream.
        _streams = objective.MepStreams.Where(s => s switch
        {
            MepStream.Multimodal => _fusion != Fusion.Late,
            MepStream.Visual => _fusion != Fusion.Early && model.HasVisual,
            _ => _fusion != Fusion.Early && model.HasAudio,
        }).ToArray();
        bool pairs = model.HasVisual && model.HasAudio; // CPP needs both streams
        if (_streams.Length == 0 && (!pairs || CorrectPairPrediction.SwapCount(2, objective.Cpp.Fraction) == 0))
            throw new Runtime.UserError($"pretrain.mep_streams [{string.Join(", ", objective.MepStreams).ToLowerInvariant()}] has no stream that " +
                                        $"model.fusion {_fusion.ToString().ToLowerInvariant()} (model.modalities {modelConfig.Modalities.ToString().ToLowerInvariant()}) " +
                                        "produces, and CPP is off: nothing to train. " +
                                        "Fix: add multimodal (early fusion) or the model's visual/audio streams (late fusion) to pretrain.mep_streams.");
        this.model = model;
        if (model.HasVisual) visual_mask = new EmbeddingMasker("visual_mask", hidden, objective.Masking, t.InitializerRange);
        if (model.HasAudio) audio_mask = new EmbeddingMasker("audio_mask", hidden, objective.Masking, t.InitializerRange);
        mep_heads = new NamedModules<MepHead>(HeadNames().Select(name => (name, new MepHead(name, hidden, t.LayerNormEps))));
        if (pairs && objective.Cpp.Fraction > 0) cpp_head = new CppHead("cpp_head", hidden, objective.Cpp.Input, t.LayerNormEps);
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
    public CppPooling CppPooling => _o.Cpp.Pooling;
    /// <summary>The CPP head; null when CPP is off (pretrain.cpp_fraction 0, or a single-modality model).</summary>
    public CppHead? CppHead => cpp_head;
    /// <summary>pretrain.sample_across_ranks in a data-parallel job: the ranks whose batches form the global batch the MEP
    /// negatives and CPP partners are drawn from (every rank must set it, and run forward on the same number of videos);
    /// null: this process's batch (docs/scaling-out.md).</summary>
    public IRankGroup? Ranks { get; set; }
    /// <summary>The MEP streams this model and config train (after leaving out those the fusion mode lacks).</summary>
    public IReadOnlyList<MepStream> Streams => _streams;

    IEnumerable<string> HeadNames() => _o.ShareMepHeads ? (_streams.Length > 0 ? ["shared"] : []) : _streams.Select(StreamName);
    MepHead Head(MepStream s) => mep_heads.Get(_o.ShareMepHeads ? "shared" : StreamName(s));
    static string StreamName(MepStream s) => s.ToString().ToLowerInvariant();

    /// <summary>visual [B,T,3,F,H,W], audio [B,T,1,FREQ,TIME] → losses (a single-modality model: null for the stream it lacks).</summary>
    public PretrainLosses forward(Tensor? visual, Tensor? audio)
    {
        var xv = visual is null ? null : model.EncodeVisual(visual);          // [B,T,D]
        var xa = audio is null ? null : model.EncodeAudio(audio);             // [B,T,D]
        var device = (xv ?? xa ?? throw new ArgumentException("pretraining needs at least one stream")).device;
        long B = (xv ?? xa)!.shape[0];

        // pretrain.sample_across_ranks: negatives and partners from the global batch of all ranks (this rank's videos at rows first..).
        var ranks = Ranks;
        if (ranks is not null) RankGather.CheckSameRows(ranks, B, "pretrain.sample_across_ranks");
        long globalB = ranks is null ? B : B * ranks.Size, first = ranks is null ? 0 : B * ranks.Rank;

        // CPP: part of the batch gets another video's audio sequence (a derangement); MEP targets follow the swap.
        bool cpp = cpp_head is not null && xa is not null && CorrectPairPrediction.SwapCount(globalB, _o.Cpp.Fraction) > 0;
        CppPairing? pairing = null, globalPairing = null;
        if (cpp && ranks is null)
        {
            pairing = CorrectPairPrediction.Pair(B, _o.Cpp.Fraction, device);
            xa = xa!.index_select(0, pairing.AudioSource);
        }
        else if (cpp)
        {
            // One derangement of the global batch (rank 0's draw, shared); this rank's videos take their audio from any rank.
            var source = RankGather.FromRoot(ranks!, CorrectPairPrediction.Pair(globalB, _o.Cpp.Fraction, device).AudioSource);
            globalPairing = new CppPairing(source, (source == arange(globalB, dtype: int64, device: device)).to(float32)); // own audio = correct pair
            pairing = new CppPairing(globalPairing.AudioSource.narrow(0, first, B), globalPairing.Labels.narrow(0, first, B));
            xa = RankGather.AllGather(ranks!, xa!.contiguous()).index_select(0, pairing.AudioSource);
        }

        var mv = xv is null ? null : visual_mask!.Mask(xv);
        var ma = xa is null ? null : audio_mask!.Mask(xa);
        var ctx = model.Contextualize(mv?.Input, ma?.Input);
        // What the CPP head reads: the masked pass, or (pretrain.cpp_masked false) an unmasked one of the Transformers.
        var (cppV, cppA) = cpp && !_o.Cpp.Masked ? (xv, xa) : (mv?.Input, ma?.Input);
        var cppCtx = cpp && !_o.Cpp.Masked ? model.Contextualize(cppV, cppA) : null;
        // pretrain.cpp_extra_pairs: K more pairs per video, all in one pass of the Transformers.
        (Tensor Positions, Tensor Labels)? extra = !cpp || _o.Cpp.ExtraPairs <= 0 ? null
            : ranks is null ? CorrectPairPrediction.ExtraPairs(pairing!.AudioSource, _o.Cpp.ExtraPairs)
            : CorrectPairPrediction.ExtraPairs(globalPairing!.AudioSource, _o.Cpp.ExtraPairs, first, B);
        ContextOutputs? extraCtx = null;
        if (extra is { } xp)
        {
            long K = xp.Positions.shape[0] / B;
            var audioPool = ranks is null ? cppA! : RankGather.AllGather(ranks, cppA!.contiguous());
            extraCtx = model.Contextualize(cppV!.repeat(K, 1, 1), audioPool.index_select(0, xp.Positions));
        }
        // Heads and losses in float32 under mixed precision (the bf16 region ends with the Transformers).
        using var fp32 = Runtime.Autocast.Disabled(device);
        static ContextOutputs? Fp32(ContextOutputs? c) => c is null ? null : new ContextOutputs(c.Visual?.to(float32), c.Audio?.to(float32), c.Multimodal?.to(float32));
        ctx = Fp32(ctx)!;
        cppCtx = Fp32(cppCtx);
        extraCtx = Fp32(extraCtx);
        xv = xv?.to(float32);
        xa = xa?.to(float32);

        // [sample_across_ranks] each modality's targets gathered once, for every stream that scores it.
        CandidatePool? poolV = null, poolA = null;
        CandidatePool? PoolV() => ranks is null ? null : poolV ??= CandidatePool.Gather(ranks, xv!);
        CandidatePool? PoolA() => ranks is null ? null : poolA ??= CandidatePool.Gather(ranks, xa!);

        var parts = new Dictionary<string, Tensor>();
        var mepLosses = new List<Tensor>();
        foreach (var stream in _streams)
        {
            Tensor loss, acc, own;
            switch (stream)
            {
                case MepStream.Visual:
                    (loss, acc, own) = Mep(Head(stream), ctx.Visual![.., 1..], xv!, mv!.Positions, PoolV());
                    break;
                case MepStream.Audio:
                    (loss, acc, own) = Mep(Head(stream), ctx.Audio![.., 1..], xa!, ma!.Positions, PoolA());
                    break;
                default:
                {
                    var (lv, av, ov) = Mep(Head(stream), ctx.MultimodalVisualClips(), xv!, mv!.Positions, PoolV());
                    var (la, aa, oa) = Mep(Head(stream), ctx.MultimodalAudioClips(), xa!, ma!.Positions, PoolA());
                    loss = (lv + la) / 2;
                    acc = (av + aa) / 2;
                    own = (ov + oa) / 2;
                    break;
                }
            }
            parts[$"loss_mep_{StreamName(stream)}"] = loss;
            parts[$"acc_mep_{StreamName(stream)}"] = acc;
            parts[$"neg_own_video_{StreamName(stream)}"] = own;
            mepLosses.Add(loss);
        }

        Tensor total = zeros([], device: device);
        if (mepLosses.Count > 0)
        {
            var mep = stack(mepLosses).sum();
            if (_o.MepReduction == LossReduction.Mean) mep = mep / mepLosses.Count;
            parts["loss_mep"] = mep;
            total = total + mep;
        }
        if (cpp)
        {
            var (vIn, aIn) = CppInputs(cppCtx ?? ctx, _o.Cpp.Pooling);
            var logits = cpp_head!.call(vIn, aIn);
            var (lossCpp, accCpp) = CorrectPairPrediction.Loss(logits, pairing!.Labels);   // accuracy: the batch's own pairs
            if (extra is { } ep)
            {
                var (ev, ea) = CppInputs(extraCtx!, _o.Cpp.Pooling);
                lossCpp = CorrectPairPrediction.BalancedLoss(cat([logits, cpp_head.call(ev, ea)]), cat([pairing.Labels, ep.Labels]), ranks);
            }
            parts["loss_cpp"] = lossCpp;
            parts["acc_cpp"] = accCpp;
            total = total + _o.Cpp.Weight * lossCpp;
        }
        parts["loss"] = total;
        return new PretrainLosses(total, parts);
    }

    /// <summary>
    /// What the CPP head reads per modality: the multimodal Transformer's visual and audio BOS outputs [B,D]; with
    /// <see cref="CppPooling.Mean"/> its visual and audio clip outputs averaged [B,D]; with <see cref="CppPooling.Clips"/> the
    /// clip outputs themselves [B,T,D] (the head scores each position's pair). Without a multimodal Transformer, the
    /// modality Transformers' outputs.
    /// </summary>
    public static (Tensor Visual, Tensor Audio) CppInputs(ContextOutputs ctx, CppPooling pooling)
    {
        var (bosV, bosA, clipsV, clipsA) = ctx.Multimodal is not null
            ? (ctx.MultimodalVisualBos(), ctx.MultimodalAudioBos(), ctx.MultimodalVisualClips(), ctx.MultimodalAudioClips())
            : (ctx.Visual![.., 0], ctx.Audio![.., 0], ctx.Visual![.., 1..], ctx.Audio![.., 1..]);
        return pooling switch
        {
            CppPooling.Bos => (bosV, bosA),
            CppPooling.Mean => (clipsV.mean([1]), clipsA.mean([1])),
            _ => (clipsV, clipsA),
        };
    }

    MepResult Mep(MepHead head, Tensor outputs, Tensor targets, Tensor positions, CandidatePool? global) =>
        MaskedEmbeddingPrediction.Loss(head, outputs, targets, positions, _o.Mep, global);
}
