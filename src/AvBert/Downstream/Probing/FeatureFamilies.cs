using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Downstream.Probing;

/// <summary>What a feature family is, whichever depth of the model it comes from.</summary>
public enum FeatureRole
{
    /// <summary>The visual CNN's pooled features.</summary>
    VisualCnn,
    /// <summary>The audio CNN's pooled features.</summary>
    AudioCnn,
    /// <summary>Both CNNs' features concatenated.</summary>
    CnnAudioVisual,
    /// <summary>The visual Transformer's clip outputs (or x^v without one).</summary>
    Visual,
    /// <summary>The audio Transformer's clip outputs (or x^a without one).</summary>
    Audio,
    /// <summary>The audio-visual features of <see cref="FeatureSet.AudioVisual"/>: the multimodal Transformer's, else visual ⊕ audio.</summary>
    AudioVisual,
    /// <summary>Further concatenations across depths.</summary>
    Combined,
}

/// <summary>One feature family: per-video features [N,D] on the CPU, named by what they are (a "+" joins concatenated parts).</summary>
public sealed record FeatureFamily(string Name, FeatureRole Role, Tensor Features);

/// <summary>
/// Every feature family a probe is scored on, from one model's pooled features (each averaged over the clips):
/// <c>visual_cnn</c>, <c>audio_cnn</c>, <c>visual_cnn+audio_cnn</c>; the visual and audio Transformers' outputs
/// (<c>visual_transformer</c>, <c>audio_transformer</c>; <c>visual_embeddings</c>/<c>audio_embeddings</c> — x^v, x^a —
/// under early fusion); <c>multimodal_transformer</c> (its visual-clip mean ⊕ audio-clip mean); and the concatenations
/// <c>visual_transformer+audio_transformer</c> and <c>visual_cnn+audio_cnn+multimodal_transformer</c>. Only the families
/// whose parts exist (an audio-only `extract` gives the audio CNN's alone).
/// </summary>
public sealed class FeatureFamilies : IDisposable
{
    public IReadOnlyList<FeatureFamily> All { get; }

    FeatureFamilies(IReadOnlyList<FeatureFamily> all) => All = all;

    public FeatureFamily? this[FeatureRole role] => All.FirstOrDefault(f => f.Role == role);

    /// <summary>The families of a <see cref="FeatureSet"/> of a model whose Transformers are <paramref name="transformers"/>
    /// (<see cref="TransformerSharing.TransformersOf"/>). The tensors are copies: dispose both.</summary>
    public static FeatureFamilies From(FeatureSet set, IReadOnlyList<string> transformers)
    {
        bool multimodal = transformers.Contains(AvBertModel.Multimodal);
        return Build(set.VisualCnn, set.AudioCnn, set.Visual, transformers.Contains(AvBertModel.Visual), set.Audio,
                     transformers.Contains(AvBertModel.Audio), set.AudioVisual, multimodal);
    }

    /// <summary>
    /// The families of `extract` tensors stacked over N videos (names as <c>extract</c> writes them: visual_pooled [N,T,Cv],
    /// audio_pooled, visual_embeddings/audio_embeddings [N,T,D], visual_transformer/audio_transformer [N,T+1,D],
    /// multimodal_transformer [N,2(T+1),D]), pooled as <see cref="FrozenFeatures"/> pools a model's outputs.
    /// </summary>
    public static FeatureFamilies FromExtracted(IReadOnlyDictionary<string, Tensor> stacked)
    {
        using var scope = NewDisposeScope();
        Tensor? Get(string name) => stacked.GetValueOrDefault(name);
        var context = new ContextOutputs(Get("visual_transformer"), Get("audio_transformer"), Get("multimodal_transformer"));
        var (visual, audio, audioVisual) = FrozenFeatures.Pool(Get("visual_embeddings"), Get("audio_embeddings"), context);
        var families = Build(Get("visual_pooled")?.mean([1]), Get("audio_pooled")?.mean([1]), visual, context.Visual is not null, audio,
                             context.Audio is not null, audioVisual, context.Multimodal is not null);
        foreach (var f in families.All) f.Features.MoveToOuterDisposeScope();
        return families;
    }

    static FeatureFamilies Build(Tensor? visualCnn, Tensor? audioCnn, Tensor? visual, bool visualTransformer, Tensor? audio, bool audioTransformer,
                                 Tensor? audioVisual, bool multimodal)
    {
        var all = new List<FeatureFamily>();
        void Add(string name, FeatureRole role, params Tensor?[] parts)
        {
            if (parts.Any(p => p is null)) return;
            var x = parts.Length == 1 ? parts[0]!.to(ScalarType.Float32).clone() : cat(parts.Select(p => p!.to(ScalarType.Float32)).ToArray(), 1);
            all.Add(new FeatureFamily(name, role, x));
        }
        string v = visualTransformer ? "visual_transformer" : "visual_embeddings", a = audioTransformer ? "audio_transformer" : "audio_embeddings";
        Add("visual_cnn", FeatureRole.VisualCnn, visualCnn);
        Add("audio_cnn", FeatureRole.AudioCnn, audioCnn);
        Add("visual_cnn+audio_cnn", FeatureRole.CnnAudioVisual, visualCnn, audioCnn);
        Add(v, FeatureRole.Visual, visual);
        Add(a, FeatureRole.Audio, audio);
        if (multimodal)
        {
            Add("multimodal_transformer", FeatureRole.AudioVisual, audioVisual);
            Add($"{v}+{a}", FeatureRole.Combined, visual, audio);
            Add("visual_cnn+audio_cnn+multimodal_transformer", FeatureRole.Combined, visualCnn, audioCnn, audioVisual);
        }
        else
        {
            Add($"{v}+{a}", FeatureRole.AudioVisual, audioVisual);
            Add($"visual_cnn+audio_cnn+{v}+{a}", FeatureRole.Combined, visualCnn, audioCnn, audioVisual);
        }
        return new FeatureFamilies(all);
    }

    public void Dispose()
    {
        foreach (var f in All) f.Features.Dispose();
    }
}
