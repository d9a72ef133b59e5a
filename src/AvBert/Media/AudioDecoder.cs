using System.Buffers.Binary;
using System.Globalization;

namespace AvBert.Media;

/// <summary>
/// Decodes the first audio stream with ffmpeg to mono float32: seek to the start, resample to the asked rate, then
/// average the channels (SPEC §3: mono = mean of channels; done here from FFmpeg's WAV output, so it holds for any
/// channel layout, unlike FFmpeg's own downmix matrices).
/// </summary>
public static class AudioDecoder
{
    /// <summary>Mono float32 at <paramref name="sampleRate"/> from <paramref name="startSeconds"/>; the whole rest of the
    /// track when <paramref name="durationSeconds"/> is null, else exactly round(duration·rate) samples, zero-padded if the
    /// track ends early.</summary>
    public static float[] Decode(string path, double startSeconds, double? durationSeconds, int sampleRate, CancellationToken ct = default)
        => DecodeClip(path, startSeconds, durationSeconds, sampleRate, ct).Samples;

    /// <summary>As <see cref="Decode"/>, and says how many samples came from the file (the rest are zero padding). A start
    /// past the end of the track gives silence (RealSamples = 0), not an error. Throws <see cref="MediaError"/> when the
    /// file has no audio stream or cannot be decoded.</summary>
    public static DecodedAudio DecodeClip(string path, double startSeconds, double? durationSeconds, int sampleRate, CancellationToken ct = default)
    {
        if (durationSeconds is <= 0) throw new ArgumentOutOfRangeException(nameof(durationSeconds), durationSeconds, "duration must be positive");
        return Decode(path, startSeconds, durationSeconds is { } d ? checked((int)Math.Round(d * sampleRate)) : null, sampleRate, ct);
    }

    /// <summary>Exactly <paramref name="count"/> mono samples at <paramref name="sampleRate"/> from <paramref name="startSeconds"/>
    /// (zero-padded past the end of the track): the form to use when a clip is defined in samples (SPEC §3: 94,080).</summary>
    public static DecodedAudio DecodeSamples(string path, double startSeconds, int count, int sampleRate, CancellationToken ct = default)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "sample count must be positive");
        return Decode(path, startSeconds, count, sampleRate, ct);
    }

    /// <summary>Windows further apart than this are decoded by separate runs instead of one run over the gap.</summary>
    public const double MergeGapSeconds = 30.0;

    /// <summary>
    /// Several windows of <paramref name="count"/> samples (one per start, any order) from as few decodes as possible: windows
    /// within <see cref="MergeGapSeconds"/> of each other are cut from one decoded span, so they are sample-exact relative to
    /// each other. Past the end of the track windows are zero-padded (RealSamples says how many are real).
    /// </summary>
    public static DecodedAudio[] DecodeWindows(string path, IReadOnlyList<double> startSeconds, int count, int sampleRate, CancellationToken ct = default)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "sample count must be positive");
        var result = new DecodedAudio[startSeconds.Count];
        var order = Enumerable.Range(0, startSeconds.Count).OrderBy(i => startSeconds[i]).ToArray();
        double windowSeconds = (double)count / sampleRate;
        int g = 0;
        while (g < order.Length)
        {
            int end = g + 1;
            while (end < order.Length && Math.Max(0, startSeconds[order[end]]) - (Math.Max(0, startSeconds[order[end - 1]]) + windowSeconds) <= MergeGapSeconds) end++;
            double first = Math.Max(0, startSeconds[order[g]]);
            int last = order[end - 1];
            int spanSamples = checked((int)Math.Round((Math.Max(0, startSeconds[last]) - first) * sampleRate) + count);
            var span = DecodeSamples(path, first, spanSamples, sampleRate, ct);
            for (int j = g; j < end; j++)
            {
                int i = order[j];
                int offset = (int)Math.Round((Math.Max(0, startSeconds[i]) - first) * sampleRate);
                var samples = new float[count];
                Array.Copy(span.Samples, offset, samples, 0, count);
                result[i] = new DecodedAudio(samples, sampleRate, Math.Clamp(span.RealSamples - offset, 0, count));
            }
            g = end;
        }
        return result;
    }

    static DecodedAudio Decode(string path, double startSeconds, int? want, int sampleRate, CancellationToken ct)
    {
        if (sampleRate <= 0) throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "sample rate must be positive");
        FfmpegErrors.CheckReadable(path);
        var input = MediaProbe.FfmpegInput(path);
        // Ask for a few samples more than needed (FFmpeg's -t may round down by one) and cut to the exact count.
        double? seconds = want is { } w0 ? (w0 + 64.0) / sampleRate : null;
        var args = Arguments(input, Math.Max(0, startSeconds), seconds, sampleRate);
        // WAV header (≤ 100 bytes) + interleaved float32; assume stereo for the first guess, the buffer grows if needed.
        int hint = want is { } w ? 128 + (w + 64) * 4 * 2 : 1 << 20;
        var r = FfmpegProcess.Run(MediaOptions.Ffmpeg, args, path, MediaOptions.DecodeTimeout, ct, sizeHint: hint);
        if (r.ExitCode != 0) throw FfmpegErrors.Failure(path, r.Error, input, r.ExitCode);

        var mono = WavToMono(path, r.Output.AsSpan(0, r.Length), out _);
        if (want is not { } n) return new DecodedAudio(mono, sampleRate, mono.Length);
        if (mono.Length == n) return new DecodedAudio(mono, sampleRate, n);
        var exact = new float[n];
        int real = Math.Min(n, mono.Length);
        Array.Copy(mono, exact, real);
        return new DecodedAudio(exact, sampleRate, real);
    }

    internal static List<string> Arguments(string input, double start, double? duration, int sampleRate)
    {
        var inv = CultureInfo.InvariantCulture;
        var args = new List<string> { "-nostdin", "-hide_banner", "-v", "error" };
        if (MediaOptions.DecoderThreads > 0) args.AddRange(["-threads", MediaOptions.DecoderThreads.ToString(inv)]);
        if (start > 0) args.AddRange(["-ss", start.ToString("0.######", inv)]);
        args.AddRange(["-i", input]);
        if (duration is { } d) args.AddRange(["-t", d.ToString("0.######", inv)]);
        args.AddRange(["-map", "0:a:0", "-vn", "-sn", "-dn", "-ar", sampleRate.ToString(inv),
                       "-c:a", "pcm_f32le", "-f", "wav", "pipe:1"]);
        return args;
    }

    /// <summary>Parses FFmpeg's piped WAV (RIFF; sizes may be unset when streaming) of float32 samples and averages the channels.</summary>
    internal static float[] WavToMono(string path, ReadOnlySpan<byte> wav, out int channels)
    {
        channels = 0;
        if (wav.Length < 12 || !wav[..4].SequenceEqual("RIFF"u8) || !wav.Slice(8, 4).SequenceEqual("WAVE"u8))
            throw new MediaError(path, "ffmpeg produced no audio (no WAV header)");
        int pos = 12, bits = 0;
        ReadOnlySpan<byte> data = default;
        while (pos + 8 <= wav.Length)
        {
            var id = wav.Slice(pos, 4);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(wav.Slice(pos + 4, 4));
            int body = pos + 8;
            if (id.SequenceEqual("fmt "u8))
            {
                channels = BinaryPrimitives.ReadUInt16LittleEndian(wav.Slice(body + 2, 2));
                bits = BinaryPrimitives.ReadUInt16LittleEndian(wav.Slice(body + 14, 2));
            }
            else if (id.SequenceEqual("data"u8))
            {
                // Streaming writers leave the size 0 or 0xFFFFFFFF: the data runs to the end of the pipe.
                long len = size == 0 || size == uint.MaxValue || body + (long)size > wav.Length ? wav.Length - body : size;
                data = wav.Slice(body, (int)len);
                break;
            }
            pos = body + (int)Math.Min(size + (size & 1), (uint)(wav.Length - body));
        }
        if (channels <= 0 || bits != 32) throw new MediaError(path, $"ffmpeg produced unexpected audio (channels {channels}, {bits} bits)");
        int frames = data.Length / (4 * channels);
        var mono = new float[frames];
        var samples = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data[..(frames * 4 * channels)]);
        if (channels == 1) samples.CopyTo(mono);
        else
        {
            float inv = 1f / channels;
            for (int i = 0, k = 0; i < frames; i++)
            {
                float sum = 0;
                for (int c = 0; c < channels; c++) sum += samples[k++];
                mono[i] = sum * inv;
            }
        }
        return mono;
    }
}
