using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;

namespace AvBert.Data.Cache;

/// <summary>
/// A cached waveform, lossless and compact: "AVW1", the sample count (int64), then zlib of the float32 bit patterns XORed
/// with the previous sample's and split into four byte planes (sign/exponent bytes of neighbouring samples mostly agree, so
/// those planes compress well). Read back bit for bit, with no FFmpeg; zlib's checksum catches a damaged file.
/// </summary>
public static class WaveformFile
{
    static ReadOnlySpan<byte> Magic => "AVW1"u8;

    public static void Write(string path, float[] samples)
    {
        var bits = MemoryMarshal.Cast<float, uint>(samples.AsSpan());
        int n = bits.Length;
        var planes = new byte[(long)n * 4];
        uint prev = 0;
        for (int i = 0; i < n; i++)
        {
            uint x = bits[i] ^ prev;
            prev = bits[i];
            planes[i] = (byte)x;
            planes[n + i] = (byte)(x >> 8);
            planes[2 * n + i] = (byte)(x >> 16);
            planes[3 * n + i] = (byte)(x >> 24);
        }
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Span<byte> header = stackalloc byte[12];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt64LittleEndian(header[4..], n);
        fs.Write(header);
        using var z = new ZLibStream(fs, CompressionLevel.Optimal);
        z.Write(planes);
    }

    /// <summary>The samples; throws <see cref="InvalidDataException"/> when the file is not a whole waveform of
    /// <paramref name="expectedSamples"/> samples.</summary>
    public static float[] Read(string path, long expectedSamples)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> header = stackalloc byte[12];
        if (fs.ReadAtLeast(header, 12, throwOnEndOfStream: false) != 12 || !header[..4].SequenceEqual(Magic))
            throw new InvalidDataException("not a cached waveform (bad header)");
        long n = BinaryPrimitives.ReadInt64LittleEndian(header[4..]);
        if (n != expectedSamples) throw new InvalidDataException($"holds {n} samples, the index says {expectedSamples}");
        var planes = new byte[n * 4];
        using (var z = new ZLibStream(fs, CompressionMode.Decompress))
        {
            z.ReadExactly(planes);
            if (z.ReadByte() != -1) throw new InvalidDataException("longer than its sample count");
        }
        var samples = new float[n];
        var bits = MemoryMarshal.Cast<float, uint>(samples.AsSpan());
        uint prev = 0;
        for (long i = 0; i < n; i++)
        {
            uint x = planes[i] | (uint)planes[n + i] << 8 | (uint)planes[2 * n + i] << 16 | (uint)planes[3 * n + i] << 24;
            prev ^= x;
            bits[(int)i] = prev;
        }
        return samples;
    }
}
