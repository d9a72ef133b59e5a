using System.Diagnostics;
using AvBert.Config;
using AvBert.Data;
using AvBert.Media;
using AvBert.Runtime;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>What <see cref="LoaderBenchmark.Measure"/> saw: samples and clips delivered in Seconds, the readers' time split
/// (summed over worker threads), samples skipped, and the process's peak resident memory so far.</summary>
public sealed record LoaderMeasurement(int Workers, int Samples, int Clips, double Seconds, double DecodeSeconds, double TransformSeconds,
                                       int Skipped, long PeakRssBytes)
{
    /// <summary>CPU time the measurement cost, this process and its FFmpeg children together (user + system).</summary>
    public double CpuSeconds { get; init; }
    /// <summary>Clips per CPU-second: what one core delivers, whatever else runs on the machine.</summary>
    public double ClipsPerCpuSecond => CpuSeconds > 0 ? Clips / CpuSeconds : 0;
    public double ClipsPerSecond => Seconds > 0 ? Clips / Seconds : 0;
    public double ClipsPerSecondPerWorker => ClipsPerSecond / Math.Max(1, Workers);
    /// <summary>Share of the readers' time spent decoding (the rest: crop/flip/normalise, log-mel, masks).</summary>
    public double DecodeShare => DecodeSeconds + TransformSeconds > 0 ? DecodeSeconds / (DecodeSeconds + TransformSeconds) : 0;
}

/// <summary>`avbert bench loader`: a source (or prepared:DIR) and its split, the sample kind (pretrain, audio, visual), the worker
/// counts ("1,2"; null: 1 and one per core) and the seconds per measurement.</summary>
public sealed record LoaderBenchOptions(string Data, string Split, string Task, string? Workers, double Seconds, DataConfig DataConfig);

/// <summary>
/// Measures what the training loader delivers for a dataset on this machine (<c>avbert bench loader</c>, and the bench
/// project): a <see cref="BatchLoader"/> with the given workers runs epochs until the time is up, after one warm-up sample.
/// </summary>
public static class LoaderBenchmark
{
    /// <summary>`avbert bench loader`: one line about the source, then one <see cref="Measure"/> line per worker count.</summary>
    public static void Run(LoaderBenchOptions o, TextWriter output, CancellationToken ct = default)
    {
        var source = SourceLoader.Open(o.Data, o.Split, new SkippedLog(null, TextWriter.Null));
        var options = o.Task switch
        {
            "pretrain" => SequenceOptions.Sequences(SampleMode.Train),
            "audio" => SequenceOptions.Esc50(SampleMode.Train),
            "visual" => SequenceOptions.Ucf101(SampleMode.Train),
            var t => throw new UserError($"bench loader: --task {t}: use pretrain, audio or visual"),
        };
        var counts = (o.Workers ?? $"1,{Environment.ProcessorCount}").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(w => int.TryParse(w, out var n) && n > 0 ? n : throw new UserError($"bench loader: --workers {w}: give whole numbers >= 1, e.g. 1,2"))
            .Distinct().ToArray();
        MediaOptions.DecoderThreads = 1;   // workers decode in parallel: one FFmpeg thread each
        var d = o.DataConfig;
        var probe = new VideoSequenceDataset(source, d, options);
        output.WriteLine(FormattableString.Invariant(
            $"bench loader: {source.Name}: {source.Items.Count} files, task {o.Task}, {probe.ClipsPerSample} clip(s) of {d.NumFrames} frames at {d.TrainCropSize}² + log-mel {d.AudioFrequency}x{d.AudioTime} per sample, {probe.ViewsPerVideo} view(s) per file, {Environment.ProcessorCount} cores"));
        foreach (var n in counts)
        {
            var m = Measure(new VideoSequenceDataset(source, d, options), n, o.Seconds, ct: ct);
            output.WriteLine(FormattableString.Invariant(
                $"  workers {n,2}: {m.ClipsPerSecond:0.0} clips/s ({m.ClipsPerSecondPerWorker:0.0} per worker, {m.Samples} samples in {m.Seconds:0.0} s); decode {m.DecodeShare * 100:0}% / transform {(1 - m.DecodeShare) * 100:0}% of reader time; {m.ClipsPerCpuSecond:0.0} clips per CPU-second (with FFmpeg); peak memory {m.PeakRssBytes / 1048576.0:0} MiB")
                + (m.Skipped > 0 ? $"; {m.Skipped} skipped" : ""));
        }
    }

    public static LoaderMeasurement Measure(VideoSequenceDataset dataset, int workers, double seconds, int batchSize = 4, CancellationToken ct = default)
    {
        if (dataset.Count == 0) throw new ArgumentException("the dataset is empty", nameof(dataset));
        try { dataset.Load(0, 0, 0, ct); } catch (Media.MediaError) { }   // warm-up: JIT, page cache (a bad first file is skipped below)
        var t0 = (dataset.Reader.Timings.Decode, dataset.Reader.Timings.Transform);
        int skipped = 0;
        var loader = new BatchLoader(dataset, new LoaderOptions { BatchSize = batchSize, Workers = workers, Seed = 1, PrefetchBatches = 2 },
                                     (Action<string, string>)((_, _) => Interlocked.Increment(ref skipped)));
        double cpu0 = CpuSeconds();
        var sw = Stopwatch.StartNew();
        int samples = 0;
        for (int epoch = 0; sw.Elapsed.TotalSeconds < seconds; epoch++)
        {
            int before = samples;
            foreach (var b in loader.Epoch(epoch, 0, ct))
                using (b)
                {
                    samples += b.Count;
                    if (sw.Elapsed.TotalSeconds >= seconds) break;
                }
            if (samples == before) break;   // every sample failed
        }
        double elapsed = sw.Elapsed.TotalSeconds;
        var t = dataset.Reader.Timings;
        return new LoaderMeasurement(loader.Options.ResolvedWorkers, samples, samples * dataset.ClipsPerSample, elapsed,
                                     (t.Decode - t0.Decode).TotalSeconds, (t.Transform - t0.Transform).TotalSeconds, skipped, Runtime.ProcessMemory.PeakResidentBytes())
        { CpuSeconds = CpuSeconds() - cpu0 };
    }

    /// <summary>User + system CPU seconds of this process and of its children that have exited (/proc/self/stat fields
    /// 14–17, in clock ticks of 1/100 s); 0 where /proc is missing.</summary>
    static double CpuSeconds()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');   // fields from 3 (state) on
            return (long.Parse(f[11]) + long.Parse(f[12]) + long.Parse(f[13]) + long.Parse(f[14])) / 100.0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException) { return 0; }
    }
}
