using System.Diagnostics;
using AvBert.Data;

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

/// <summary>
/// Measures what the training loader delivers for a dataset on this machine (<c>avbert bench loader</c>, and the bench
/// project): a <see cref="BatchLoader"/> with the given workers runs epochs until the time is up, after one warm-up sample.
/// </summary>
public static class LoaderBenchmark
{
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
