namespace AvBert.Features;

/// <summary>
/// The train-time audio augmentation of SPEC §3: one frequency mask and one time mask, value 0, shared by every clip of a
/// sequence. As in the reference (<c>mask_along_axis_consistent</c>): width w = u·⌊rate·size⌋ with u ~ U[0,1), start
/// s = u'·(size − w), and bins i with s ≤ i &lt; s + w are masked (continuous w and s, so a width may cover 0 bins).
/// </summary>
public sealed record SpectrogramMasks(double FrequencyStart, double FrequencyWidth, double TimeStart, double TimeWidth)
{
    public static SpectrogramMasks None { get; } = new(0, 0, 0, 0);

    /// <summary>Draws the two masks (4 numbers from <paramref name="rng"/>, in a fixed order).</summary>
    public static SpectrogramMasks Sample(Random rng, int frequencyBins, int timeFrames, double frequencyRate, double timeRate)
    {
        var (fs, fw) = Draw(rng, frequencyBins, (int)(frequencyBins * frequencyRate));
        var (ts, tw) = Draw(rng, timeFrames, (int)(timeFrames * timeRate));
        return new SpectrogramMasks(fs, fw, ts, tw);
    }

    static (double Start, double Width) Draw(Random rng, int size, int maxWidth)
    {
        double width = rng.NextDouble() * maxWidth;
        double start = rng.NextDouble() * (size - width);
        return (start, width);
    }

    public bool MasksFrequency(int bin) => bin >= FrequencyStart && bin < FrequencyStart + FrequencyWidth;
    public bool MasksTime(int frame) => frame >= TimeStart && frame < TimeStart + TimeWidth;

    /// <summary>Sets the masked bins to 0 in <paramref name="spectrograms"/>: [clips, FREQ, TIME] row-major (any leading shape).</summary>
    public void Apply(Span<float> spectrograms, int frequencyBins, int timeFrames)
    {
        int plane = frequencyBins * timeFrames;
        if (spectrograms.Length % plane != 0) throw new ArgumentException("length is not a multiple of FREQ·TIME", nameof(spectrograms));
        for (int c = 0; c < spectrograms.Length / plane; c++)
        {
            var p = spectrograms.Slice(c * plane, plane);
            for (int f = 0; f < frequencyBins; f++)
            {
                var row = p.Slice(f * timeFrames, timeFrames);
                if (MasksFrequency(f)) { row.Clear(); continue; }
                for (int t = 0; t < timeFrames; t++)
                    if (MasksTime(t)) row[t] = 0f;
            }
        }
    }
}
