using AvBert.Config;

namespace AvBert.Pretraining;

/// <summary>
/// Pretraining a single-modality model (V-BERT / A-BERT: model.modalities visual or audio): MEP on its one stream, no
/// CPP and no multimodal stream. The defaults of the pretrain section (CPP on, MEP on every stream) mean "what the model
/// has", so they pass silently; a CPP or stream option the user changed to something that needs both streams is refused.
/// </summary>
public static class SingleStreamPretraining
{
    /// <summary>Throws a <see cref="ConfigError"/> naming the first pretrain key that needs both streams (set away from its
    /// default) when <paramref name="model"/> has one stream; nothing for an audio-visual model.</summary>
    public static void CheckOptions(ModelConfig model, PretrainConfig p, string source = "config")
    {
        if (model.Modalities == Modalities.AudioVisual) return;
        var d = new PretrainConfig();
        var name = model.Modalities.ToString().ToLowerInvariant();
        var own = model.Modalities == Modalities.Visual ? MepStream.Visual : MepStream.Audio;
        (string Key, object Value)? bad =
            p.CppFraction != 0 && p.CppFraction != d.CppFraction ? ("pretrain.cpp_fraction", p.CppFraction)
            : p.CppWeight != d.CppWeight ? ("pretrain.cpp_weight", p.CppWeight)
            : p.CppInput != d.CppInput ? ("pretrain.cpp_input", p.CppInput.ToString().ToLowerInvariant())
            : p.CppPooling != d.CppPooling ? ("pretrain.cpp_pooling", p.CppPooling.ToString().ToLowerInvariant())
            : p.CppMasked != d.CppMasked ? ("pretrain.cpp_masked", p.CppMasked.ToString().ToLowerInvariant())
            : p.CppExtraPairs != d.CppExtraPairs ? ("pretrain.cpp_extra_pairs", p.CppExtraPairs)
            : !p.MepStreams.SequenceEqual(d.MepStreams) && p.MepStreams.Any(s => s != own)
                ? ("pretrain.mep_streams", $"[{string.Join(", ", p.MepStreams).ToLowerInvariant()}]")
            : null;
        if (bad is { } b)
            throw new ConfigError($"{source}: {b.Key} = {b.Value} needs both streams, but model.modalities is {name} (one stream: MEP on " +
                                  $"{name} only, no correct-pair prediction). Fix: remove {b.Key}" +
                                  (b.Key == "pretrain.mep_streams" ? $" or set it to [{name}]" : "") + ", or pretrain an audio-visual model.");
    }
}
