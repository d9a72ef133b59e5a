using System.Diagnostics;
using System.Globalization;
using AvBert.Config;
using AvBert.Data;
using AvBert.Media;
using AvBert.Runs;
using AvBert.Data.Sources;

namespace AvBert.Bench;

/// <summary>
/// The full loader path — probe, FFmpeg decode + scale, crop/flip/normalise, audio decode, log-mel, masks, collation —
/// in clips per second, with 1 worker and with one per core. Media: Kinetics-like clips made with FFmpeg lavfi
/// (testsrc2 + sine, H.264 + AAC). Usage:
/// <c>dotnet run -c Release --project bench/AvBert.Bench -- loader [--videos 12] [--seconds 10] [--size 340x256]
/// [--preset full|small] [--mode train|test] [--workers 1,N] [--batch 4] [--step-ms 0] [--audio tone|noise]</c>; --step-ms simulates a model
/// step per batch and reports how long the consumer waited for data.
/// <para><c>--case cache [--measure-seconds 20] [--frames auto|raw|h264]</c>: the same files read as sources and from an <c>avbert prep</c> cache, clips/s per
/// worker count and their ratio in one run, prep videos/s per core, cache KB per second of media, peak memory.</para>
/// <para><c>--case short-audio [--videos 12] [--seconds 4]</c>: the audio task on short files (single 2 s windows, 10 per file),
/// where the time goes per window (process start, whole-file decode, log-mel) and windows/s decoding the file for each window
/// (as before) and once per file (the steady state after each file's first decode).</para>
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
        var benchCase = Arg(args, "--case");
        if (benchCase == "short-audio") return ShortAudio(Int(args, "--videos", 12), double.Parse(Arg(args, "--seconds") ?? "4", CultureInfo.InvariantCulture),
                                                          data, workerCounts, double.Parse(Arg(args, "--measure-seconds") ?? "20", CultureInfo.InvariantCulture));

        // --audio tone (default: a sine per file) or noise (pink noise: compresses like real soundtracks, i.e. hardly).
        bool noise = (Arg(args, "--audio") ?? "tone") == "noise";
        var dir = Path.Combine(Path.GetTempPath(), $"avbert-loaderbench-{size[0]}x{size[1]}-{seconds}s{(noise ? "-noise" : "")}");
        var files = MakeMedia(dir, "v", videos, $"{size[0]}x{size[1]}", seconds,
                              i => noise ? $"anoisesrc=color=pink:amplitude=0.5:seed={i + 1}:sample_rate=44100" : $"sine=frequency={300 + 50 * i}:sample_rate=44100");
        var items = files.Select(f => new MediaItem(f, [0])).ToList();
        if (benchCase == "cache")
            return CacheComparison(dir, files.Count, data, preset, workerCounts, double.Parse(Arg(args, "--measure-seconds") ?? "20", CultureInfo.InvariantCulture),
                                   PrepRun.ParseFrames(Arg(args, "--frames") ?? "auto"));
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
        var dst = new byte[3 * data.NumFrames * view.CropSize * view.CropSize];
        for (int k = 0; k < T; k++) AvBert.Features.VisualTransform.Crop(frames, data.NumFrames, view, dst, data.SamplingRate);
        double transform = Lap();
        var wave = AudioDecoder.Decode(path, 0, null, data.AudioSampleRate);
        double audio = Lap();
        var windows = AvBert.Features.ClipSampling.CutWindows(wave, Enumerable.Range(0, T).Select(k => (long)k * 1000).ToArray(), data.AudioClipSamples);
        new AvBert.Features.LogMel(new(data.AudioSampleRate, data.AudioFrequency, data.AudioTime)).Compute(windows, T, data.AudioClipSamples);
        double logmel = Lap();
        Console.WriteLine($"  one sequence, stage by stage: probe {probe:0} ms, video decode+scale ({union} frames) {video:0} ms, " +
                          $"crop {transform:0} ms, audio decode {audio:0} ms, log-mel {logmel:0} ms");
    }

    /// <summary>Sources vs. their cache on the same files, in one run: prep speed and size, then clips/s per worker count.</summary>
    static int CacheComparison(string dir, int videos, DataConfig data, string preset, int[] workerCounts, double seconds, AvBert.Data.Prepared.PreparedFrames frames)
    {
        var cacheDir = dir + "-cache-" + preset;
        if (Directory.Exists(cacheDir)) Directory.Delete(cacheDir, true);
        int cores = Environment.ProcessorCount;
        var prep = PrepRun.Run(new PrepOptions { Data = dir, Out = cacheDir, DataConfig = data, Frames = frames, Log = TextWriter.Null });
        Console.WriteLine($"  prepared frames: {frames.ToString().ToLowerInvariant()} (prep --frames)");
        Console.WriteLine($"  prep: {prep.Prepared} videos in {prep.Seconds:0.0} s = {prep.Prepared / prep.Seconds / cores:0.00} videos/s per core " +
                          $"({cores} workers); cache {prep.Bytes / 1e3 / prep.SourceSeconds:0} KB per second of media");
        MediaOptions.DecoderThreads = 1;
        var options = SequenceOptions.Sequences(SampleMode.Train);
        foreach (int workers in workerCounts)
        {
            var src = LoaderBenchmark.Measure(new VideoSequenceDataset(SourceLoader.Open(dir), data, options), workers, seconds);
            var cached = LoaderBenchmark.Measure(new VideoSequenceDataset(SourceLoader.Open("prepared:" + cacheDir), data, options), workers, seconds);
            Console.WriteLine($"  workers {workers}: sources {src.ClipsPerSecondPerWorker:0.0} clips/s per worker (decode {src.DecodeShare:P0}), " +
                              $"cache {cached.ClipsPerSecondPerWorker:0.0} clips/s per worker (decode {cached.DecodeShare:P0}): " +
                              $"{cached.ClipsPerSecond / src.ClipsPerSecond:0.00}x; peak RSS {cached.PeakRssBytes / 1048576.0:0} MiB");
            Console.WriteLine($"    per CPU-second (this process + FFmpeg): sources {src.ClipsPerCpuSecond:0.0} clips, cache {cached.ClipsPerCpuSecond:0.0} clips " +
                              $"({cached.ClipsPerCpuSecond / src.ClipsPerCpuSecond:0.00}x)");
        }
        return 0;
    }

    /// <summary>The audio task on short files (issue: decode-bound fine-tuning on 4 s recordings): where a window's time goes,
    /// then windows/s decoding the file for every window (as before) and once per file.</summary>
    static int ShortAudio(int videos, double seconds, DataConfig data, int[] workerCounts, double measureSeconds)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"avbert-loaderbench-audio-{seconds}s");
        var files = MakeMedia(dir, "a", videos, "320x240", seconds, _ => "anoisesrc=color=pink:sample_rate=48000");
        var options = SequenceOptions.Esc50(SampleMode.Train);
        var items = files.Select(f => new MediaItem(f, [0])).ToList();
        Console.WriteLine($"short-audio bench: {videos} files of {seconds} s (H.264 + AAC 48 kHz stereo), audio task: {options.ViewsPerVideo} windows of " +
                          $"{options.AudioWindowSeconds} s per file, {Environment.ProcessorCount} cores");
        // Where a window's time goes, one thread.
        var sw = Stopwatch.StartNew();
        const int reps = 10;
        for (int i = 0; i < reps; i++) BenchFfmpeg.Run(["-v", "error", "-f", "lavfi", "-i", "anullsrc=d=0.01", "-f", "null", "-"]);
        double start = sw.Elapsed.TotalMilliseconds / reps; sw.Restart();
        for (int i = 0; i < reps; i++) AudioDecoder.Decode(files[i % files.Count], 0, null, data.AudioSampleRate);
        double decode = sw.Elapsed.TotalMilliseconds / reps; sw.Restart();
        for (int i = 0; i < reps; i++) MediaProbe.Probe(files[0]);
        var window = (int)Math.Round((options.AudioWindowSeconds ?? 2) * data.AudioSampleRate);
        var logMel = new AvBert.Features.LogMel(new(data.AudioSampleRate, data.AudioFrequency, data.AudioTime));
        sw.Restart();
        for (int i = 0; i < reps; i++) logMel.Compute(new float[window], 1, window);
        double mel = sw.Elapsed.TotalMilliseconds / reps;
        Console.WriteLine($"  one window: FFmpeg process start (empty run) {start:0} ms, whole-file decode (process + pipe + resample) {decode:0} ms, " +
                          $"log-mel {mel:0.0} ms");
        MediaOptions.DecoderThreads = 1;
        foreach (int workers in workerCounts)
        {
            var before = new VideoSequenceDataset(items, data, options);
            before.Reader.WaveformCacheBytes = 0;          // as before: one FFmpeg run over the whole file per window
            var b = LoaderBenchmark.Measure(before, workers, measureSeconds);
            var warm = new VideoSequenceDataset(items, data, options);
            for (int i = 0; i < warm.Count; i += warm.ViewsPerItem) warm.Load(i, 0, 0, default);   // steady state: each file decoded once
            var after = LoaderBenchmark.Measure(warm, workers, measureSeconds);
            Console.WriteLine($"  workers {workers}: a decode per window {b.ClipsPerSecond:0.0} windows/s (decode {b.DecodeShare:P0}), " +
                              $"once per file {after.ClipsPerSecond:0.0} windows/s (decode {after.DecodeShare:P0}): {after.ClipsPerSecond / b.ClipsPerSecond:0.0}x");
        }
        return 0;
    }

    /// <summary>testsrc2 pictures at 30 fps + the given lavfi audio, H.264 + AAC stereo, made once per folder.</summary>
    static List<string> MakeMedia(string dir, string prefix, int count, string size, double seconds, Func<int, string> audio)
    {
        Directory.CreateDirectory(dir);
        var d = seconds.ToString(CultureInfo.InvariantCulture);
        var files = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var path = Path.Combine(dir, $"{prefix}{i}.mp4");
            if (!File.Exists(path))
                BenchFfmpeg.Run(["-y", "-v", "error", "-f", "lavfi", "-i", $"testsrc2=s={size}:r=30:d={d}", "-f", "lavfi", "-i", $"{audio(i)}:duration={d}",
                                 "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-shortest", path]);
            files.Add(path);
        }
        return files;
    }

    static string? Arg(string[] args, string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }
    static int Int(string[] args, string name, int def) => Arg(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : def;

}
