using AvBert.Config;

namespace AvBert.Data;

/// <summary>Which streams a dataset decodes: audio-only tasks (ESC-50) skip video, visual-only ones (UCF101) skip audio.</summary>
[Flags]
public enum Modalities
{
    Visual = 1,
    Audio = 2,
    Both = Visual | Audio,
}

public static class ModelStreams
{
    /// <summary>The streams a model of <paramref name="modalities"/> reads: both, or the single-modality model's one.</summary>
    public static Modalities Of(ModelModalities modalities) => modalities switch
    {
        ModelModalities.Visual => Modalities.Visual,
        ModelModalities.Audio => Modalities.Audio,
        _ => Modalities.Both,
    };
}

/// <summary>Train: random spatial augmentation and spectrogram masks. Test: deterministic crops, no masks.</summary>
public enum SampleMode
{
    Train,
    Test,
}
