using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert prep`: a prepared set of a data source (see <see cref="PrepRun"/>).</summary>
public static class PrepCommand
{
    public static Command Build()
    {
        var opts = new ConfigOptions();
        var data = CommonOptions.Data("The source to prepare: any data source spec (folder, list, CSV, ucf101:, esc50:, kinetics:, charades:, real, toy-av:N)");
        var output = CommonOptions.Out("Folder of the prepared set (new, or one this command made: it continues where it stopped)");
        var workers = CommonOptions.Workers("Files prepared in parallel (0: one per core)");
        var device = new Option<string>("--device") { Description = "cpu, or cuda: FFmpeg's CUDA decoding and scaling where the build and machine have them (else a warning and the CPU)", DefaultValueFactory = _ => "cpu" };
        var frames = new Option<string>("--frames")
        {
            Description = "How videos are kept: auto (raw frames for items of at most 4 MiB raw, H.264 for larger ones), raw (no decoding when training reads them; ~3·W·H bytes a frame), h264 (~1/20 of raw)",
            DefaultValueFactory = _ => "auto",
        };
        var c = new Command("prep", "Prepare a data set once for training: video at the clip frame rate and training scale, exact audio, an index of labels and splits (resumable)");
        opts.AddTo(c);
        foreach (var o in new Option[] { data, output, workers, device, frames }) c.Options.Add(o);
        c.SetAction((r, ct) =>
        {
            var config = opts.Load(r);
            var dev = r.GetValue(device)!;
            if (dev != "cpu" && !dev.StartsWith("cuda", StringComparison.OrdinalIgnoreCase))
                throw new Runtime.UserError($"prep: --device {dev}: use cpu or cuda");
            bool live = !Console.IsErrorRedirected;
            double lastPlain = double.NegativeInfinity;
            var summary = PrepRun.Run(new PrepOptions
            {
                Data = Runs.DataSpec.FileSpec(r.GetValue(data)!, config.Data), Out = r.GetValue(output)!, DataConfig = config.Data, Workers = r.GetValue(workers), Device = dev, Frames = PrepRun.ParseFrames(r.GetValue(frames)!),
                OnProgress = p =>
                {
                    if (!live && p.Seconds - lastPlain < 10 && p.Done < p.Total) return;
                    lastPlain = p.Seconds;
                    Console.Error.Write((live ? "\r" : "") + Line(p) + (live ? "\u001b[K" : "\n"));
                },
            }, ct);
            if (live) Console.Error.WriteLine();
            double mb = summary.Bytes / 1e6, kbps = summary.SourceSeconds > 0 ? summary.Bytes / 1e3 / summary.SourceSeconds : 0;
            Console.WriteLine($"prep: {summary.Prepared} prepared in {summary.Seconds:0.0} s, {summary.AlreadyPrepared} already there, " +
                              $"{summary.Skipped} skipped{(summary.SkippedFile is { } f ? $" (listed in {f})" : "")}; prepared set {summary.PreparedDir}: " +
                              $"{mb:0.0} MB for {summary.SourceSeconds:0} s of media ({kbps:0} KB per second)");
            Console.WriteLine($"prep: train with --data prepared:{summary.PreparedDir} (same --preset/--config/--set)");
            return Task.FromResult(0);
        });
        return c;
    }

    static string Line(PrepProgress p)
    {
        const int width = 30;
        double frac = p.Total > 0 ? (double)p.Done / p.Total : 1;
        int done = (int)Math.Round(frac * width);
        var eta = p.Eta is { } e ? (e.TotalHours >= 1 ? $"{(int)e.TotalHours}:{e:mm\\:ss}" : e.ToString("mm\\:ss")) : "--:--";
        return FormattableString.Invariant(
            $"prep [{new string('#', done)}{new string('-', width - done)}] {frac * 100,3:0}% {p.Done}/{p.Total} videos | {p.Rate:0.00} videos/s | ETA {eta}");
    }
}
