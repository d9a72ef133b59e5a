using AvBert.Runs;
using System.CommandLine;

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
            InspectRun.Run(config.Load(r).Data, r.GetValue(file)!, r.GetValue(cropOpt), r.GetValue(outOpt), r.GetValue(pngOpt), Console.Out);
            return 0;
        });
        return c;
    }
}
