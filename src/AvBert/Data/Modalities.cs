namespace AvBert.Data;

/// <summary>Which streams a dataset decodes: audio-only tasks (ESC-50) skip video, visual-only ones (UCF101) skip audio.</summary>
[Flags]
public enum Modalities
{
    Visual = 1,
    Audio = 2,
    Both = Visual | Audio,
}

/// <summary>Train: random spatial augmentation and spectrogram masks. Test: deterministic crops, no masks.</summary>
public enum SampleMode
{
    Train,
    Test,
}
