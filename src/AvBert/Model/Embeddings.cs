using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>
/// The learned beginning-of-sequence vector of each modality the model has, in the order of <c>modalities</c> (visual
/// row 0 and audio row 1; an audio-only model's audio row 0, as the reference), prepended to x_1..T.
/// With <c>BosMeanPooling</c> the BOS becomes LN(bos + mean_t(x_t + sinusoid_t)) as in the reference's option.
/// </summary>
public sealed class BosEmbeddings : Module
{
    readonly Embedding vectors;
    readonly LayerNorm? visual_norm, audio_norm;
    readonly Modality[] modalities;

    public BosEmbeddings(int hiddenSize, bool meanPooling, double layerNormEps, IReadOnlyList<Modality> modalities) : base(nameof(BosEmbeddings))
    {
        this.modalities = [.. modalities];
        vectors = Embedding(modalities.Count, hiddenSize);
        if (meanPooling)
        {
            if (modalities.Contains(Modality.Visual)) visual_norm = LayerNorm(hiddenSize, layerNormEps);
            if (modalities.Contains(Modality.Audio)) audio_norm = LayerNorm(hiddenSize, layerNormEps);
        }
        RegisterComponents();
    }

    /// <summary>x [B, T, D] → [BOS; x] [B, T+1, D].</summary>
    public Tensor Prepend(Tensor x, Modality modality)
    {
        long b = x.shape[0];
        var bos = vectors.weight![Array.IndexOf(modalities, modality)].expand(b, 1, -1);   // [B, 1, D]
        if (visual_norm is not null || audio_norm is not null)
        {
            var pooled = (x + Sinusoid(x.shape[1], x.shape[2], x.dtype, x.device)).mean([1L], keepdim: true);
            bos = (modality == Modality.Visual ? visual_norm! : audio_norm!).call(bos + pooled);
        }
        return cat([bos, x], 1);
    }

    /// <summary>The fixed sinusoidal position encoding of "Attention is all you need" [T, D].</summary>
    internal static Tensor Sinusoid(long length, long d, ScalarType dtype, Device device)
    {
        var position = arange(length, dtype: float32, device: device).unsqueeze(1);
        var div = exp(arange(0, d, 2, dtype: float32, device: device) * (-Math.Log(10000.0) / d));
        var pe = zeros(length, d, dtype: float32, device: device);
        pe[.., TensorIndex.Slice(0, null, 2)] = sin(position * div);
        pe[.., TensorIndex.Slice(1, null, 2)] = cos(position * div);
        return pe.to(dtype);
    }
}

/// <summary>Input of a modality Transformer: LN(y + position_t) → dropout, positions 0 (BOS) … T.</summary>
public sealed class ModalityEmbeddings : Module<Tensor, Tensor>
{
    readonly Embedding position_embeddings;
    readonly LayerNorm layer_norm;
    readonly Dropout dropout;

    public ModalityEmbeddings(TransformerConfig t) : base(nameof(ModalityEmbeddings))
    {
        position_embeddings = Embedding(t.MaxPositions, t.HiddenSize);
        layer_norm = LayerNorm(t.HiddenSize, t.LayerNormEps);
        dropout = Dropout(t.HiddenDropout);
        RegisterComponents();
    }

    /// <summary>[B, T+1, D] → [B, T+1, D].</summary>
    public override Tensor forward(Tensor x)
    {
        var positions = arange(x.shape[1], dtype: int64, device: x.device);
        return dropout.call(layer_norm.call(x + position_embeddings.call(positions)));
    }
}

/// <summary>
/// Input of the multimodal Transformer: [y^v_0..T ; y^a_0..T] + position (0..T, restarted for audio) + modality
/// (0 visual, 1 audio) → LN → dropout.
/// </summary>
public sealed class MultimodalEmbeddings : Module<Tensor, Tensor, Tensor>
{
    readonly Embedding position_embeddings, modality_embeddings;
    readonly LayerNorm layer_norm;
    readonly Dropout dropout;

    public MultimodalEmbeddings(TransformerConfig t) : base(nameof(MultimodalEmbeddings))
    {
        position_embeddings = Embedding(t.MaxPositions, t.HiddenSize);
        modality_embeddings = Embedding(t.TypeVocabSize, t.HiddenSize);
        layer_norm = LayerNorm(t.HiddenSize, t.LayerNormEps);
        dropout = Dropout(t.HiddenDropout);
        RegisterComponents();
    }

    /// <summary>visual [B, Tv, D], audio [B, Ta, D] → [B, Tv+Ta, D].</summary>
    public override Tensor forward(Tensor visual, Tensor audio)
    {
        var dev = visual.device;
        var positions = cat([arange(visual.shape[1], dtype: int64, device: dev), arange(audio.shape[1], dtype: int64, device: dev)]);
        var modalities = cat([zeros(visual.shape[1], dtype: int64, device: dev), ones(audio.shape[1], dtype: int64, device: dev)]);
        var x = cat([visual, audio], 1) + position_embeddings.call(positions) + modality_embeddings.call(modalities);
        return dropout.call(layer_norm.call(x));
    }
}
