using System.Diagnostics;
using System.Globalization;
using AvBert.Config;
using AvBert.Data;
using AvBert.Media;

namespace AvBert.Bench;

/// <summary>
/// The full loader path — probe, FFmpeg decode + scale, crop/flip/normalise, audio decode, log-mel, masks, collation —
/// in clips per second, with 1 worker and with one per core. Media: Kinetics-like clips made with FFmpeg lavfi
/// (testsrc2 + sine, H.264 + AAC). Usage:
/// <c>dotnet run -c Release --project bench/AvBert.Bench -- loader [--videos 12] [--seconds 10] [--size 340x256]
/// [--preset full|small] [--mode train|test] [--workers 1,N] [--batch 4] [--step-ms 0]</c>; --step-ms simulates a model
/// step per batch and reports how long the consumer waited for data.
/// </summary>
public static class LoaderBench
{
    public static int Run(string[] args)
    {
        AvBert.Runtime.TorchRuntime.Initialize();
        int videos = Int(args, "--videos", 12), batch = Int(args, "--batch", 4);
        double seconds = double.Parse(Arg(args, "--seconds") ?? "10", CultureInfo.InvariantCulture);
        var size = (Arg(args, "--size") ?? "340x256").Split('x').Select(int.Parse).ToArray();
        var preset = Arg(args, "--preset") ?? "full";
        var mode = (Arg(args, "--mode") ?? "train") == "test" ? SampleMode.Test : SampleMode.Train;
        var workerCounts = (Arg(args, "--workers") ?? $"1,{Environment.ProcessorCount}").Split(',').Select(int.Parse).Distinct().ToArray();
        var data = ConfigLoader.Load(preset, null, []).Data;

        var dir = Path.Combine(Path.GetTempPath(), $"avbert-loaderbench-{size[0]}x{size[1]}-{seconds}s");
        Directory.CreateDirectory(dir);
        var inv = CultureInfo.InvariantCulture;
        var files = new List<string>();
        for (int i = 0; i < videos; i++)
        {
            var path = Path.Combine(dir, $"v{i}.mp4");
            if (!File.Exists(path))
                BenchFfmpeg.Run(["-y", "-v", "error", "-f", "lavfi", "-i", $"testsrc2=s={size[0]}x{size[1]}:r=30:d={seconds.ToString(inv)}",
                           "-f", "lavfi", "-i", $"sine=frequency={300 + 50 * i}:sample_rate=44100:duration={seconds.ToString(inv)}",
                           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-shortest", path]);
            files.Add(path);
        }
        var items = files.Select(f => new MediaItem(f, [0])).ToList();
        var ds = new VideoSequenceDataset(items, data, new SequenceOptions { Mode = mode, SpatialCrops = 1 });
        int T = ds.ClipsPerSample;
        Console.WriteLine($"loader bench: {videos} videos {size[0]}x{size[1]} {seconds}s h264+aac, preset {preset}, {mode}, " +
                          $"T={T} clips of {data.NumFrames} frames at {(mode == SampleMode.Train ? data.TrainCropSize : data.TestCropSize)}², " +
                          $"log-mel {data.AudioFrequency}x{data.AudioTime}, batch {batch}, {Environment.ProcessorCount} cores");

        // Warm-up (JIT, torch, page cache) on one sample, then where one sample's time goes (1 thread).
        ds.Load(0, 0, 0, default);
        Stages(files[0], data, T);
        MediaOptions.DecoderThreads = 1;   // many workers decode in parallel: one FFmpeg thread each
        int stepMs = Int(args, "--step-ms", 0);   // simulated model step per batch: shows whether the model would wait
        foreach (var workers in workerCounts)
        {
            // A fresh dataset per setting; epoch 0 includes probing each file once, epoch 1 is the steady state.
            var fresh = new VideoSequenceDataset(items, data, new SequenceOptions { Mode = mode, SpatialCrops = 1 });
            var loader = new BatchLoader(fresh, new LoaderOptions { BatchSize = batch, Workers = workers, Seed = 1, PrefetchBatches = 2 }, (SkippedLog?)null);
            for (int epoch = 0; epoch < 2; epoch++)
            {
                var sw = Stopwatch.StartNew();
                int samples = 0;
                var waitBefore = loader.Stats.ConsumerWait;
                foreach (var b in loader.Epoch(epoch))
                    using (b)
                    {
                        samples += b.Count;
                        if (stepMs > 0) Thread.Sleep(stepMs);
                    }
                var s = sw.Elapsed.TotalSeconds;
                var waited = (loader.Stats.ConsumerWait - waitBefore).TotalSeconds;
                Console.WriteLine($"  workers {workers,2}, epoch {epoch}{(epoch == 0 ? " (probes)" : "         ")}: {samples} sequences in {s:0.00} s = " +
                                  $"{samples / s:0.00} seq/s = {samples * T / s:0.0} clips/s ({samples * T * data.NumFrames / s:0} frames/s)" +
                                  (stepMs > 0 ? $", model step {stepMs} ms: waited {waited:0.00} s in all ({waited / s:P0})" : ""));
            }
        }
        return 0;
    }

    static void Stages(string path, DataConfig data, int T)
    {
        var sw = Stopwatch.StartNew();
        double Lap() { var t = sw.Elapsed.TotalMilliseconds; sw.Restart(); return t; }
        var info = MediaProbe.Probe(path);
        double probe = Lap();
        var v = info.Video!;
        var view = new AvBert.Features.VisualTransform(data).SampleTrain(v.Width, v.Height, new Random(1));
        double fps = data.TargetFps;                                   // as ClipReader: the clips' union at TARGET_FPS
        int union = (int)Math.Round((v.DurationSeconds - data.ClipSeconds) * fps) + (data.NumFrames - 1) * data.SamplingRate + 1;
        var frames = VideoDecoder.DecodeFrames(path, 0, union, fps, view.ScaledWidth, view.ScaledHeight);
        double video = Lap();
        var dst = new float[3 * data.NumFrames * view.CropSize * view.CropSize];
        int frameBytes = view.ScaledWidth * view.ScaledHeight * 3;
        for (int k = 0; k < T; k++) new AvBert.Features.VisualTransform(data).Apply(frames, data.NumFrames, view, dst, data.SamplingRate);
        double transform = Lap();
        var wave = AudioDecoder.Decode(path, 0, null, data.AudioSampleRate);
        double audio = Lap();
        var windows = AvBert.Features.ClipSampling.CutWindows(wave, Enumerable.Range(0, T).Select(k => (long)k * 1000).ToArray(), data.AudioClipSamples);
        new AvBert.Features.LogMel(new(data.AudioSampleRate, data.AudioFrequency, data.AudioTime)).Compute(windows, T, data.AudioClipSamples);
        double logmel = Lap();
        Console.WriteLine($"  one sequence, stage by stage: probe {probe:0} ms, video decode+scale ({union} frames) {video:0} ms, " +
                          $"crop/flip/normalise {transform:0} ms, audio decode {audio:0} ms, log-mel {logmel:0} ms");
    }

    static string? Arg(string[] args, string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }
    static int Int(string[] args, string name, int def) => Arg(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : def;

}
