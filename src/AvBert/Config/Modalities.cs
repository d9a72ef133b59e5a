namespace AvBert.Config;

/// <summary>
/// A set of streams: which ones a model has (<see cref="ModelConfig.Modalities"/>, model.modalities; reference:
/// MODEL.ARCH visual_audio, visual, audio) and which ones a dataset decodes (audio-only tasks such as ESC-50 skip video,
/// visual-only ones such as UCF101 skip audio). In YAML: audio_visual, visual, audio. The single-modality models are the
/// paper's V-BERT / A-BERT baselines: one CNN and its Transformer, late fusion only.
/// Declared with the set of both first: the config error for a bad value lists the YAML names in this order.
/// </summary>
[Flags]
public enum Modalities
{
    AudioVisual = Visual | Audio,
    Visual = 1,
    Audio = 2,
}

/// <summary>One stream of a model or a sample: visual or audio.</summary>
public enum Modality { Visual = 0, Audio = 1 }
