using System.Diagnostics;
using AvBert.Config;
using AvBert.Media;
using AvBert.Data;
using AvBert.Data.Prepared;
using AvBert.Storage;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>What <see cref="PrepRun.Run"/> does: the source, the prepared set's folder, the geometry it is for, parallelism.</summary>
public sealed record PrepOptions
{
    public required string Data { get; init; }
    public required string Out { get; init; }
    public required DataConfig DataConfig { get; init; }
    /// <summary>Items prepared in parallel (one FFmpeg each); 0 = one per core.</summary>
    public int Workers { get; init; }
    /// <summary>"cpu" or "cuda" (FFmpeg's CUDA decoding and scaling where this build and machine have them).</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>How videos are kept (a new set only: an existing one keeps its own choice).</summary>
    public PreparedFrames Frames { get; init; } = PreparedFrames.Auto;
    /// <summary>Called after each item (done, total, prepared this run, seconds so far).</summary>
    public Action<PrepProgress>? OnProgress { get; init; }
    /// <summary>Warnings (the CUDA fallback) and skipped files; default stderr.</summary>
    public TextWriter? Log { get; init; }
}

/// <summary>Progress of a prep: items finished (prepared, already there or skipped) of Total.</summary>
public sealed record PrepProgress(int Done, int Total, int PreparedNow, double Seconds)
{
    /// <summary>Items prepared per second by this run.</summary>
    public double Rate => Seconds > 0 ? PreparedNow / Seconds : 0;
    public TimeSpan? Eta => Rate > 0 ? TimeSpan.FromSeconds((Total - Done) / Rate) : null;
}

/// <summary>What a prep did. Bytes and SourceSeconds are of the whole prepared set (all entries).</summary>
public sealed record PrepSummary(int Total, int Prepared, int AlreadyPrepared, int Skipped, double Seconds, long Bytes, double SourceSeconds,
                                 string PreparedDir, string? SkippedFile);

/// <summary>
/// <c>avbert prep</c>: every item of a source (all its splits) transcoded once to what training reads — video at the clip
/// frame rate and the largest scale training crops from (<see cref="PreparedSettings"/>), the audio as the exact mono
/// waveform the loader decodes (16-bit levels, <see cref="WaveformFile"/>) — with labels, splits, segments and stream facts in the index, so training probes
/// nothing and decodes audio with no process at all.
/// <para>Resumable: each finished item is one index line written after its files are complete (written under temporary
/// names, then renamed), so an interrupted prep continues where it stopped and never redoes a finished item; an item
/// whose source changed (size or modification time) is prepared again. Bad sources go to DIR/skipped.tsv, as in training,
/// and are not retried.</para>
/// </summary>
public static class PrepRun
{
    public static PrepSummary Run(PrepOptions o, CancellationToken ct = default)
    {
        var log = o.Log ?? Console.Error;
        var dir = Path.GetFullPath(o.Out);
        var settings = PreparedSettings.For(o.DataConfig) with { Frames = o.Frames };
        if (PreparedIndex.IsPrepared(dir))
        {
            // A prepared set that serves this config (e.g. made for `full`, extended for `small`) keeps its own settings.
            var old = PreparedIndex.ReadHeader(dir);
            if (old.Settings.Mismatch(o.DataConfig) is { } unfit)
                throw new PreparedError($"{dir} was prepared with other settings ({Describe(old.Settings)}): {unfit}; " +
                                     "give another --out, or delete that folder to prepare it again");
            settings = old.Settings;
        }
        else if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new PreparedError($"{dir} exists and is not a prepared set: give an empty or new folder as --out");

        var skipped = new SkippedLog(dir, log);
        var (source, splits) = OpenAllSplits(o.Data, skipped);
        PreparedIndex.WriteHeader(dir, new PreparedHeader
        {
            Settings = settings, SourceSpec = o.Data, SourceName = source.Name, ClassNames = source.ClassNames.ToArray(),
            MultiLabel = source.MultiLabel, AudioOnly = source.AudioOnly,
        });
        Directory.CreateDirectory(Path.Combine(dir, PreparedIndex.MediaFolder));
        // A prep killed mid-write (SIGKILL, a power cut) left its temporary files behind: gone with their writer.
        int stale = new[] { dir }.Concat(Directory.EnumerateDirectories(Path.Combine(dir, PreparedIndex.MediaFolder))).Sum(AtomicFile.RemoveStaleTemporaries);
        if (stale > 0) log.WriteLine($"prep: removed {stale} temporary file(s) left by an earlier prep that was killed mid-write");

        var done = PreparedIndex.ReadEntries(dir);
        var todo = new List<(MediaItem Item, string Id, string[] Splits, int Order)>();
        int already = 0;
        var gate = new object();
        for (int order = 0; order < splits.Count; order++)
        {
            var (item, itemSplits) = splits[order];
            var id = PreparedEntry.IdOf(item.Path, item.Start, item.End);
            if (skipped.Contains(item.Path)) continue;
            if (done.TryGetValue(id, out var e) && !e.SourceChanged() && FilesPresent(dir, e))
            {
                already++;
                if (!e.Splits.SequenceEqual(itemSplits) || !e.Labels.SequenceEqual(item.Labels) || e.Order != order)   // relabeled: index only
                    PreparedIndex.Append(dir, e with { Splits = itemSplits, Labels = item.Labels, Fold = item.Fold, Spans = item.Spans?.ToArray(), Order = order });
                continue;
            }
            todo.Add((item, id, itemSplits, order));
        }

        var (cuda, why) = o.Device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase) ? FfmpegHardware.DetectCuda(ct) : (FfmpegCuda.None, null);
        if (why is not null) log.WriteLine($"prep: --device {o.Device}: {why}; decoding and scaling on the CPU instead");
        int workers = o.Workers > 0 ? o.Workers : Environment.ProcessorCount;
        var transcode = new TranscodeOptions
        {
            Crf = settings.Crf, KeyframeInterval = settings.KeyframeInterval, Cuda = cuda,
            Threads = Math.Max(1, Environment.ProcessorCount / workers),
        };
        int total = already + todo.Count;
        int prepared = 0, failed = 0;
        var sw = Stopwatch.StartNew();
        void Report() => o.OnProgress?.Invoke(new PrepProgress(already + prepared + failed, total, prepared, sw.Elapsed.TotalSeconds));
        Report();
        try
        {
            Parallel.ForEach(todo, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, t =>
            {
                try
                {
                    var entry = Prepare(dir, t.Item, t.Id, t.Splits, settings, transcode, ct) with { Order = t.Order };
                    lock (gate) { PreparedIndex.Append(dir, entry); prepared++; }
                }
                catch (MediaError e) when (!ct.IsCancellationRequested)
                {
                    skipped.Report(t.Item.Path, e.Reason);
                    Interlocked.Increment(ref failed);
                }
                lock (gate) Report();
            });
        }
        catch (AggregateException) when (ct.IsCancellationRequested) { throw new OperationCanceledException(ct); }
        var all = PreparedIndex.ReadEntries(dir).Values.ToList();
        long bytes = all.Sum(e => FileSize(dir, e.VideoFile) + FileSize(dir, e.AudioFile));
        return new PrepSummary(total, prepared, already, skipped.Count, sw.Elapsed.TotalSeconds, bytes, all.Sum(e => e.Duration),
                               dir, skipped.Count > 0 ? skipped.FilePath : null);
    }

    /// <summary>`prep --frames`: auto, raw or h264.</summary>
    public static PreparedFrames ParseFrames(string value) => value switch
    {
        "auto" => PreparedFrames.Auto, "raw" => PreparedFrames.Raw, "h264" => PreparedFrames.H264,
        _ => throw new Runtime.UserError($"prep: --frames {value}: use auto, raw or h264"),
    };

    static string Describe(PreparedSettings s) =>
        $"short side {s.ShortSide}, every {s.SamplingRate} frame(s) at {s.TargetFps} fps, audio {s.AudioSampleRate} Hz, keyframe every {s.KeyframeInterval}, format {s.Format}";

    /// <summary>The source's items over its train/val/test splits (an item in several is listed once, with each split).</summary>
    static (MediaSource Source, List<(MediaItem Item, string[] Splits)> Items) OpenAllSplits(string spec, SkippedLog skipped)
    {
        MediaSource? first = null;
        SourceError? firstError = null;
        var byId = new Dictionary<string, (MediaItem Item, List<string> Splits)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var split in new[] { "train", "val", "test" })
        {
            MediaSource s;
            try { s = SourceLoader.Open(spec, split, skipped); }
            catch (SourceError e) { firstError ??= e; continue; }
            if (s.Items.Any(i => i.Prepared is not null)) throw new PreparedError($"{spec} is already a prepared set: give its source to prep");
            first ??= s;
            foreach (var item in s.Items)
            {
                var id = PreparedEntry.IdOf(item.Path, item.Start, item.End);
                if (!byId.TryGetValue(id, out var v)) { byId[id] = v = (item, []); order.Add(id); }
                if (!v.Splits.Contains(split)) v.Splits.Add(split);
            }
        }
        if (first is null) throw firstError!;
        return (first, order.Select(id => (byId[id].Item, byId[id].Splits.ToArray())).ToList());
    }

    static bool FilesPresent(string dir, PreparedEntry e) =>
        (e.VideoFile is null || File.Exists(Path.Combine(dir, e.VideoFile)))
        && (e.AudioFile is null || File.Exists(Path.Combine(dir, e.AudioFile)));

    static long FileSize(string dir, string? file)
    {
        if (file is null) return 0;
        var f = new FileInfo(Path.Combine(dir, file));
        return f.Exists ? f.Length : 0;
    }

    /// <summary>Prepares one item: probe, video transcode, audio decode; files under temporary names until complete.</summary>
    static PreparedEntry Prepare(string dir, MediaItem item, string id, string[] splits, PreparedSettings settings, TranscodeOptions transcode,
                              CancellationToken ct)
    {
        var file = new FileInfo(item.Path);
        if (!file.Exists) throw new MediaError(item.Path, "file not found");
        long size = file.Length, mtime = file.LastWriteTimeUtc.Ticks;
        var info = MediaProbe.Probe(item.Path, ct);
        var (rangeStart, rangeEnd) = ClipReader.UsableRange(info, item.Start, item.End);
        double duration = rangeEnd - rangeStart;
        if (!(duration > 0)) throw new MediaError(item.Path, "the item's segment is empty (start at or past the end of the file)");
        var sub = Path.Combine(PreparedIndex.MediaFolder, id[..2]);
        Directory.CreateDirectory(Path.Combine(dir, sub));

        PreparedVideo? video = null;
        string? videoFile = null;
        if (info.Video is { } v)
        {
            double videoSeconds = Math.Max(0, Math.Min(rangeEnd, v.DurationSeconds) - rangeStart);
            int frames = Math.Max(1, (int)Math.Ceiling(videoSeconds * settings.ClipFps - 1e-6));
            var (rw, rh) = settings.RawSize(v.Width, v.Height);
            bool raw = settings.KeepsRaw(3L * rw * rh * frames);
            var (w, h) = raw ? (rw, rh) : PreparedSize(v.Width, v.Height, settings.ShortSide);
            videoFile = Path.Combine(sub, id + (raw ? FrameFile.Extension : ".mkv"));
            // Both ways write a temporary file renamed over the entry's (AtomicFile), so a killed prep leaves no torn file.
            var target = Path.Combine(dir, videoFile);
            if (raw) WriteRawFrames(item.Path, rangeStart, frames, settings.ClipFps, w, h, target, ct);
            else AtomicFile.WriteVia(target, tmp => Transcode(item.Path, rangeStart, frames, settings.ClipFps, w, h, tmp, transcode, ct));
            video = new PreparedVideo(v.Width, v.Height, v.Fps, videoSeconds, v.Codec);
        }
        PreparedAudio? audio = null;
        string? audioFile = null;
        if (info.Audio is { } a)
        {
            // The very call the loader makes on the source (ClipReader), so prepared windows equal source windows sample for sample.
            var wave = AudioDecoder.Decode(item.Path, rangeStart, item.End is null ? null : duration, settings.AudioSampleRate, ct);
            audioFile = Path.Combine(sub, id + ".wavez");
            WaveformFile.Write(Path.Combine(dir, audioFile), wave);
            audio = new PreparedAudio(a.SampleRate, a.Channels, Math.Max(0, Math.Min(rangeEnd, a.DurationSeconds) - rangeStart), a.Codec, wave.Length);
        }
        return new PreparedEntry
        {
            Id = id, Source = Path.GetFullPath(item.Path), SourceSize = size, SourceMtimeTicks = mtime,
            Start = item.Start, End = item.End, Labels = item.Labels, Splits = splits, Fold = item.Fold, Spans = item.Spans?.ToArray(),
            RangeStart = rangeStart, Duration = duration, HasEnd = item.End is not null,
            Video = video, Audio = audio, VideoFile = videoFile, AudioFile = audioFile,
        };
    }

    /// <summary>The frames the H.264 file would hold, before encoding (the same FFmpeg timing and scaling), as raw frames.</summary>
    static void WriteRawFrames(string path, double start, int frames, double fps, int width, int height, string output, CancellationToken ct)
    {
        var decoded = VideoDecoder.Decode(path, start, frames, fps, width, height, ct);
        FrameFile.Write(output, decoded.Rgb, decoded.RealFrames, 3 * width * height);
    }

    static void Transcode(string path, double start, int frames, double fps, int width, int height, string output, TranscodeOptions transcode,
                          CancellationToken ct)
    {
        try { VideoTranscoder.ToPrepared(path, start, frames, fps, width, height, output, transcode, ct); }
        catch (MediaError) when (transcode.Cuda != FfmpegCuda.None && !ct.IsCancellationRequested)
        {
            // A codec the GPU cannot decode (FFmpeg then hands software frames to scale_cuda): this file on the CPU.
            TryDelete(output);
            VideoTranscoder.ToPrepared(path, start, frames, fps, width, height, output, transcode with { Cuda = FfmpegCuda.None }, ct);
        }
    }

    /// <summary>Short side <paramref name="shortSide"/> (never larger than the source's), aspect kept, both sides even (H.264 4:2:0).</summary>
    public static (int Width, int Height) PreparedSize(int width, int height, int shortSide)
    {
        int srcShort = Math.Min(width, height), srcLong = Math.Max(width, height);
        int s = Math.Max(2, Math.Min(shortSide, srcShort) & ~1);
        int l = Math.Max(2, (int)Math.Round((double)srcLong * s / srcShort / 2) * 2);
        return width <= height ? (s, l) : (l, s);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
