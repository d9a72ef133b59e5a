using System.Buffers.Binary;
using System.Globalization;

namespace AvBert.Media;

/// <summary>
/// Decodes the first audio stream with ffmpeg to mono float32: seek to the start, resample to the asked rate, then
/// average the channels (SPEC §3: mono = mean of channels; done here from FFmpeg's WAV output, so it holds for any
/// channel layout, unlike FFmpeg's own downmix matrices), each sample rounded to the 16-bit grid (<see cref="ToPcm16Grid"/>).
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
        // The WAV is averaged to mono as it streams in: memory is the mono samples asked for, whatever the channel count.
        int limit = want ?? checked((int)Math.Min(Array.MaxLength, MediaOptions.MaxWholeAudioSeconds * sampleRate));
        float[] mono = [];
        MediaError? badWav = null;
        var r = FfmpegProcess.Run(MediaOptions.Ffmpeg, args, path, MediaOptions.DecodeTimeout, ct, read: stdout =>
        {
            try { return WavToMono(path, stdout, want ?? 0, limit, out mono); }
            catch (MediaError e) { badWav = e; return 0; } // FFmpeg's own error (exit code, stderr) says more: checked first
        });
        if (r.ExitCode != 0) throw FfmpegErrors.Failure(path, r.Error, input, r.ExitCode);
        if (badWav is not null) throw badWav;
        if (want is not { } n)
        {
            if (r.Length > limit)
                throw new MediaError(path, $"the audio track is longer than {MediaOptions.MaxWholeAudioSeconds / 60:0.#} min, " +
                                           "too long to decode whole: decode windows of it instead");
            return new DecodedAudio(mono, sampleRate, r.Length);
        }
        return new DecodedAudio(mono, sampleRate, Math.Min(n, r.Length));
    }

    /// <summary>Full scale of the 16-bit grid every decoded sample lies on: k/32768 for an integer k in [−32768, 32767].</summary>
    public const float Pcm16Scale = 32768f;

    /// <summary>
    /// <paramref name="x"/> rounded to the nearest 16-bit PCM level (k/32768, clipped to [−1, 32767/32768]). Every decoded
    /// sample goes through this, so that a training cache keeps the waveform losslessly in 16 bits (half of float32, and
    /// noise-like audio compresses: float32 mantissas do not) and still gives exactly what decoding the source gives.
    /// The error (at most 2^−16 ≈ −96 dB of full scale) stays below log-mel's floor of log(mel + 1e−6) for any audible
    /// signal; media audio was 16-bit PCM before it was compressed anyway.
    /// </summary>
    public static float ToPcm16Grid(float x) => (int)MathF.Round(Math.Clamp(x, -1f, 32767f / Pcm16Scale) * Pcm16Scale) / Pcm16Scale;   // via int: never −0

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

    /// <summary>
    /// Reads FFmpeg's piped WAV (RIFF; sizes may be unset when streaming) of float32 samples from <paramref name="wav"/> and
    /// averages the channels as it goes. <paramref name="mono"/> gets max(<paramref name="size"/>, frames read) samples (zero
    /// padded), reading stops after <paramref name="limit"/> frames. Returns the frames read (limit + 1 when there were more).
    /// </summary>
    internal static int WavToMono(string path, Stream wav, int size, int limit, out float[] mono)
    {
        Span<byte> head = stackalloc byte[12];
        if (wav.ReadAtLeast(head, 12, throwOnEndOfStream: false) < 12 || !head[..4].SequenceEqual("RIFF"u8) || !head.Slice(8, 4).SequenceEqual("WAVE"u8))
            throw new MediaError(path, "ffmpeg produced no audio (no WAV header)");
        int channels = 0, bits = 0;
        Span<byte> chunk = stackalloc byte[8];
        while (true)
        {
            if (wav.ReadAtLeast(chunk, 8, throwOnEndOfStream: false) < 8) throw new MediaError(path, "ffmpeg produced no audio (no data chunk)");
            uint chunkSize = BinaryPrimitives.ReadUInt32LittleEndian(chunk[4..]);
            if (chunk[..4].SequenceEqual("data"u8)) break; // streaming writers leave the size unset: the data runs to the end
            if (chunkSize > 1 << 20) throw new MediaError(path, "ffmpeg produced unexpected audio (a WAV header chunk over 1 MB)");
            var body = new byte[chunkSize + (chunkSize & 1)];
            wav.ReadAtLeast(body, body.Length, throwOnEndOfStream: false);
            if (chunk[..4].SequenceEqual("fmt "u8) && body.Length >= 16)
            {
                channels = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(2, 2));
                bits = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(14, 2));
            }
        }
        if (channels <= 0 || bits != 32) throw new MediaError(path, $"ffmpeg produced unexpected audio (channels {channels}, {bits} bits)");

        int frameBytes = 4 * channels;
        var buffer = new byte[Math.Max(frameBytes, (1 << 16) / frameBytes * frameBytes)];
        var samples = new float[Math.Max(size, 0)];
        int frames = 0, filled = 0;
        while (frames <= limit)
        {
            int n = wav.Read(buffer, filled, buffer.Length - filled);
            if (n == 0) break;
            filled += n;
            int whole = filled / frameBytes;
            var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(buffer.AsSpan(0, whole * frameBytes));
            int take = Math.Min(whole, limit + 1 - frames);
            if (frames + take > samples.Length)
                Array.Resize(ref samples, (int)Math.Min(Math.Max((long)samples.Length * 2, frames + take), (long)limit + 1));
            float inv = 1f / channels;
            for (int i = 0, k = 0; i < take; i++)
            {
                float sum = 0;
                for (int c = 0; c < channels; c++) sum += f[k++];
                samples[frames + i] = ToPcm16Grid(channels == 1 ? sum : sum * inv);
            }
            frames += take;
            int rest = filled - whole * frameBytes;
            if (rest > 0) Buffer.BlockCopy(buffer, whole * frameBytes, buffer, 0, rest);
            filled = rest;
        }
        int keep = size > 0 ? size : frames;
        if (samples.Length != keep) Array.Resize(ref samples, keep); // cuts the extra frame, or pads with zeros
        mono = samples;
        return frames;
    }
}
