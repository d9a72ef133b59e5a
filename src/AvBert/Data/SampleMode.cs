namespace AvBert.Data;

/// <summary>Train: random spatial augmentation and spectrogram masks. Test: deterministic crops, no masks.</summary>
public enum SampleMode
{
    Train,
    Test,
}
