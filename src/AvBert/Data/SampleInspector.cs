using AvBert.Config;
using AvBert.Features;
using AvBert.Media;
using static TorchSharp.torch;

namespace AvBert.Data;

/// <summary>What the model sees for one file in test mode (see <see cref="SampleInspector"/>).</summary>
public sealed class Inspection : IDisposable
{
    public required MediaInfo Info { get; init; }
    public required DataConfig Data { get; init; }
    public required ClipData Clips { get; init; }
    /// <summary>The tensors under the names <c>inspect</c> writes (only the keys of the streams the file has).</summary>
    public required Dictionary<string, Tensor> Tensors { get; init; }
    /// <summary>"video" and/or "audio" when the file lacks that stream.</summary>
    public required IReadOnlyList<string> Missing { get; init; }

    /// <summary>Writes <see cref="Tensors"/> to a .safetensors file (replacing it).</summary>
    public void SaveTensors(string path)
    {
        AvBert.Storage.SafetensorsFile.Write(path, Tensors);
    }

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}

/// <summary>
/// Reads one file as the model would see it at test time (default: T = data.sequence_length clips, the centre crop):
/// <c>video.frames</c> [T,3,F,H,W] normalised, <c>video.clip_start</c> [T] seconds, <c>audio.waveform</c> [1,N] (the whole
/// mono track at 44.1 kHz; left out for tracks over 10 minutes, of which only the windows are decoded), <c>audio.clip_start</c> [T] int64 sample offsets into it, <c>audio.logmel</c> [T,1,FREQ,TIME].
/// A file with one stream gives that stream's keys; a file with none, or unreadable, throws <see cref="MediaError"/>.
/// </summary>
public static class SampleInspector
{
    public static Inspection Inspect(string path, DataConfig data, int? spatialCrop = null, CancellationToken ct = default)
    {
        var info = MediaProbe.Probe(path, ct);
        var modalities = (info.HasVideo ? Modalities.Visual : 0) | (info.HasAudio ? Modalities.Audio : 0);
        int crop = spatialCrop ?? data.TestSpatialCrops / 2;
        var reader = new ClipReader(data, modalities);
        var request = new ClipRequest(ClipSampling.UniformPositions(data.SequenceLength), SampleMode.Test, crop) { KeepWaveform = true };
        var clips = reader.Read(path, request, null, null, ct);

        var tensors = new Dictionary<string, Tensor>();
        var missing = new List<string>();
        if (clips.Visual is not null)
        {
            var s = clips.VisualShape;   // [T, F, S, S, 3] bytes → the model's [T, 3, F, S, S]
            tensors["video.frames"] = tensor(clips.ModelVisual()!, [s[0], 3, s[1], s[2], s[3]]);
            tensors["video.clip_start"] = tensor(clips.ClipStartSeconds.Select(x => (float)x).ToArray());
        }
        else missing.Add("video");
        if (clips.Audio is not null)
        {
            if (clips.Waveform is { } wave) tensors["audio.waveform"] = tensor(wave, [1, wave.Length]);
            tensors["audio.clip_start"] = tensor(clips.AudioClipStarts, dtype: ScalarType.Int64);
            tensors["audio.logmel"] = tensor(clips.Audio, clips.AudioShape);
        }
        else missing.Add("audio");
        return new Inspection { Info = info, Data = data, Clips = clips, Tensors = tensors, Missing = missing };
    }
}
