using System.Globalization;
using AvBert.Config;
using AvBert.Data;
using AvBert.Features;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary><c>inspect FILE</c>: what the model will see for one file in test mode (SPEC §3–4): the clips and tensors
/// described on <c>output</c>, optionally written as safetensors and as a picture.</summary>
public static class InspectRun
{
    /// <param name="crop">Test crop index (null: centre).</param>
    /// <param name="outPath">Where to write the tensors (.safetensors), or null.</param>
    /// <param name="pngPath">Where to write a frame strip per clip over its log-mel spectrogram, or null.</param>
    public static void Run(DataConfig data, string path, int? crop, string? outPath, string? pngPath, TextWriter output)
    {
        if (crop is { } k && (k < 0 || k >= data.TestSpatialCrops))
            throw new UserError($"--crop {k}: must be in [0, {data.TestSpatialCrops}) (data.test_spatial_crops = {data.TestSpatialCrops}).");
        using var inspection = SampleInspector.Inspect(path, data, crop);
        Print(inspection, output);

        if (outPath is not null)
        {
            inspection.SaveTensors(outPath);
            output.WriteLine($"wrote {outPath}");
        }
        if (pngPath is not null)
        {
            var clips = inspection.Clips;
            InspectionImage.Save(pngPath, data, data.SequenceLength, clips.ModelVisual(), clips.Audio, clips.ClipStartSeconds, clips.AudioClipStarts,
                                 $"{Path.GetFileName(path)}  ({Describe(inspection)})");
            output.WriteLine($"wrote {pngPath}");
        }
    }

    static string Describe(Inspection i)
    {
        var parts = new List<string> { $"{i.Info.DurationSeconds:0.00} s" };
        if (i.Info.Video is { } v) parts.Add($"video {v.Width}x{v.Height} {v.Fps:0.##} fps {v.Codec}");
        else parts.Add("no video");
        if (i.Info.Audio is { } a) parts.Add($"audio {a.SampleRate} Hz {a.Channels} ch {a.Codec}");
        else parts.Add("no audio");
        return string.Join(", ", parts);
    }

    static void Print(Inspection i, TextWriter output)
    {
        var inv = CultureInfo.InvariantCulture;
        var d = i.Data;
        output.WriteLine($"file        {i.Info.Path}");
        output.WriteLine($"media       {Describe(i)}");
        var clipParts = new List<string> { $"T={d.SequenceLength} clips at uniform positions" };
        if (i.Info.HasVideo) clipParts.Add($"{d.NumFrames} frames every {d.SamplingRate} at {d.TargetFps} fps ({d.ClipSeconds:0.###} s)");
        if (i.Info.HasAudio) clipParts.Add($"audio windows of {d.AudioClipSamples} samples at {d.AudioSampleRate} Hz → log-mel {d.AudioFrequency}x{d.AudioTime}");
        output.WriteLine($"clips       {string.Join(", ", clipParts)}");
        if (i.Info.Video is { } v && v.DurationSeconds < d.ClipSeconds)
            output.WriteLine($"note        video ({v.DurationSeconds:0.###} s) is shorter than one clip: every clip starts at 0 and its last frame repeats");
        if (i.Info.HasAudio && i.Clips.Waveform is null)
            output.WriteLine("note        audio.waveform is left out: the track is too long to keep whole (only the windows were decoded)");
        if (i.Clips.Waveform is { } w && w.Length < d.AudioClipSamples)
            output.WriteLine($"note        audio ({w.Length} samples) is shorter than one window: windows start at 0, zero-padded (silence)");
        if (i.Clips.View is { } view)
            output.WriteLine($"view        scaled to {view.ScaledWidth}x{view.ScaledHeight}, crop {view.CropSize} at ({view.CropX},{view.CropY}) (test crop {view.SpatialIndex})");
        foreach (var missing in i.Missing)
            output.WriteLine($"missing     no {missing} stream: the {missing}.* tensors are not produced");
        foreach (var (name, t) in i.Tensors)
        {
            string stats = t.dtype == ScalarType.Int64
                ? string.Join(" ", t.data<long>().ToArray().Select(x => x.ToString(inv)))
                : name.EndsWith("clip_start") ? string.Join(" ", t.data<float>().ToArray().Select(x => x.ToString("0.###", inv)))
                : $"min {t.min().item<float>().ToString("0.###", inv)}  mean {t.mean().item<float>().ToString("0.###", inv)}  max {t.max().item<float>().ToString("0.###", inv)}";
            output.WriteLine($"{name,-17} [{string.Join(",", t.shape)}] {t.dtype}  {stats}");
        }
    }
}
