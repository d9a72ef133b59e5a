using AvBert.Data;
using AvBert.Features;
using AvBert.Runtime;
using System.CommandLine;
using System.Globalization;
using static TorchSharp.torch;

namespace AvBert.Cli.Commands;

/// <summary><c>inspect FILE</c>: what the model will see for one file in test mode (SPEC §3–4).</summary>
public static class InspectCommand
{
    public static Command Build()
    {
        var config = new ConfigOptions();
        var file = new Argument<string>("file") { Description = "A video or audio file" };
        var outOpt = new Option<string?>("--out") { Description = "Write the tensors to this .safetensors file (video.frames, video.clip_start, audio.waveform, audio.clip_start, audio.logmel)" };
        var pngOpt = new Option<string?>("--png") { Description = "Write a PNG: a frame strip per clip over its log-mel spectrogram" };
        var cropOpt = new Option<int?>("--crop") { Description = "Test crop index (0 = left/top, 1 = centre, 2 = right/bottom with 3 crops; default centre)" };
        var c = new Command("inspect", "Show what the model will see for one file in test mode: clips, frames, audio windows, log-mel");
        c.Arguments.Add(file);
        c.Options.Add(outOpt);
        c.Options.Add(pngOpt);
        c.Options.Add(cropOpt);
        config.AddTo(c);
        c.SetAction(r =>
        {
            var cfg = config.Load(r);
            var data = cfg.Data;
            var path = r.GetValue(file)!;
            int? crop = r.GetValue(cropOpt);
            if (crop is { } k && (k < 0 || k >= data.TestSpatialCrops))
                throw new UserError($"--crop {k}: must be in [0, {data.TestSpatialCrops}) (data.test_spatial_crops = {data.TestSpatialCrops}).");
            using var inspection = SampleInspector.Inspect(path, data, crop);
            Print(inspection);

            if (r.GetValue(outOpt) is { } outPath)
            {
                inspection.SaveTensors(outPath);
                Console.WriteLine($"wrote {outPath}");
            }
            if (r.GetValue(pngOpt) is { } pngPath)
            {
                var clips = inspection.Clips;
                InspectionImage.Save(pngPath, data, data.SequenceLength, clips.ModelVisual(), clips.Audio, clips.ClipStartSeconds, clips.AudioClipStarts,
                                     $"{Path.GetFileName(path)}  ({Describe(inspection)})");
                Console.WriteLine($"wrote {pngPath}");
            }
            return 0;
        });
        return c;
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

    static void Print(Inspection i)
    {
        var inv = CultureInfo.InvariantCulture;
        var d = i.Data;
        Console.WriteLine($"file        {i.Info.Path}");
        Console.WriteLine($"media       {Describe(i)}");
        var clipParts = new List<string> { $"T={d.SequenceLength} clips at uniform positions" };
        if (i.Info.HasVideo) clipParts.Add($"{d.NumFrames} frames every {d.SamplingRate} at {d.TargetFps} fps ({d.ClipSeconds:0.###} s)");
        if (i.Info.HasAudio) clipParts.Add($"audio windows of {d.AudioClipSamples} samples at {d.AudioSampleRate} Hz → log-mel {d.AudioFrequency}x{d.AudioTime}");
        Console.WriteLine($"clips       {string.Join(", ", clipParts)}");
        if (i.Info.Video is { } v && v.DurationSeconds < d.ClipSeconds)
            Console.WriteLine($"note        video ({v.DurationSeconds:0.###} s) is shorter than one clip: every clip starts at 0 and its last frame repeats");
        if (i.Info.HasAudio && i.Clips.Waveform is null)
            Console.WriteLine("note        audio.waveform is left out: the track is too long to keep whole (only the windows were decoded)");
        if (i.Clips.Waveform is { } w && w.Length < d.AudioClipSamples)
            Console.WriteLine($"note        audio ({w.Length} samples) is shorter than one window: windows start at 0, zero-padded (silence)");
        if (i.Clips.View is { } view)
            Console.WriteLine($"view        scaled to {view.ScaledWidth}x{view.ScaledHeight}, crop {view.CropSize} at ({view.CropX},{view.CropY}) (test crop {view.SpatialIndex})");
        foreach (var missing in i.Missing)
            Console.WriteLine($"missing     no {missing} stream: the {missing}.* tensors are not produced");
        foreach (var (name, t) in i.Tensors)
        {
            string stats = t.dtype == ScalarType.Int64
                ? string.Join(" ", t.data<long>().ToArray().Select(x => x.ToString(inv)))
                : name.EndsWith("clip_start") ? string.Join(" ", t.data<float>().ToArray().Select(x => x.ToString("0.###", inv)))
                : $"min {t.min().item<float>().ToString("0.###", inv)}  mean {t.mean().item<float>().ToString("0.###", inv)}  max {t.max().item<float>().ToString("0.###", inv)}";
            Console.WriteLine($"{name,-17} [{string.Join(",", t.shape)}] {t.dtype}  {stats}");
        }
    }
}
