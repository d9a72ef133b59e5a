using System.Buffers.Binary;
using System.IO.Compression;
using AvBert.Media;
using AvBert.Storage;

namespace AvBert.Data.Prepared;

/// <summary>
/// A prepared waveform, lossless and compact: "AVW2", the sample count (int64), then zlib of the 16-bit PCM levels
/// (<see cref="AudioDecoder.ToPcm16Grid"/>: every decoded sample is one) as differences from the previous level, split
/// into a low-byte and a high-byte plane (the high bytes of neighbouring differences mostly agree, so that plane
/// compresses well). Read back bit for bit, with no FFmpeg; zlib's checksum catches a damaged file.
/// </summary>
public static class WaveformFile
{
    static ReadOnlySpan<byte> Magic => "AVW2"u8;

    /// <summary>Writes <paramref name="samples"/> (through <see cref="AtomicFile"/>), which must lie on the 16-bit grid (as
    /// decoded), else an <see cref="ArgumentException"/>.</summary>
    public static void Write(string path, float[] samples)
    {
        int n = samples.Length;
        var planes = new byte[(long)n * 2];
        short prev = 0;
        for (int i = 0; i < n; i++)
        {
            float level = samples[i] * AudioDecoder.Pcm16Scale;
            short q = (short)level;
            if (q != level) throw new ArgumentException($"sample {i} ({samples[i]}) is not on the 16-bit grid", nameof(samples));
            ushort d = (ushort)(q - prev);
            prev = q;
            planes[i] = (byte)d;
            planes[n + i] = (byte)(d >> 8);
        }
        AtomicFile.Write(path, fs =>
        {
            Span<byte> header = stackalloc byte[12];
            Magic.CopyTo(header);
            BinaryPrimitives.WriteInt64LittleEndian(header[4..], n);
            fs.Write(header);
            using var z = new ZLibStream(fs, CompressionLevel.Optimal, leaveOpen: true);
            z.Write(planes);
        });
    }

    /// <summary>The samples; throws <see cref="InvalidDataException"/> when the file is not a whole waveform of
    /// <paramref name="expectedSamples"/> samples.</summary>
    public static float[] Read(string path, long expectedSamples)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> header = stackalloc byte[12];
        if (fs.ReadAtLeast(header, 12, throwOnEndOfStream: false) != 12 || !header[..4].SequenceEqual(Magic))
            throw new InvalidDataException("not a prepared waveform (bad header)");
        long n = BinaryPrimitives.ReadInt64LittleEndian(header[4..]);
        if (n != expectedSamples) throw new InvalidDataException($"holds {n} samples, the index says {expectedSamples}");
        var planes = new byte[n * 2];
        using (var z = new ZLibStream(fs, CompressionMode.Decompress))
        {
            z.ReadExactly(planes);
            if (z.ReadByte() != -1) throw new InvalidDataException("longer than its sample count");
        }
        var samples = new float[n];
        short level = 0;
        const float inv = 1f / AudioDecoder.Pcm16Scale;
        for (long i = 0; i < n; i++)
        {
            level += (short)(planes[i] | planes[n + i] << 8);
            samples[i] = level * inv;
        }
        return samples;
    }
}
