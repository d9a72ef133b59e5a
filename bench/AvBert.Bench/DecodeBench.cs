using System.Diagnostics;
using System.Globalization;
using AvBert.Media;

namespace AvBert.Bench;

/// <summary>
/// Clips/s that the media front end delivers, against plain <c>ffmpeg -i FILE -f null -</c> decoding of the same files
/// (the floor: what FFmpeg needs just to decode everything, nothing scaled or copied out).
/// Per file it does what a pretraining sample needs (SPEC §4): probe, T clips of NUM_FRAMES frames at TARGET_FPS/SAMPLING_RATE
/// scaled to short side 128, and T aligned 94,080-sample audio windows, plus turning the bytes into normalised floats.
/// Run: <c>dotnet run -c Release --project bench/AvBert.Bench -- decode [--files 8] [--seconds 10] [--size 340x256] [--clips 10]</c>.
/// </summary>
public static class DecodeBench
{
    public static int Run(string[] args)
    {
        int files = IntArg(args, "--files", 8), clips = IntArg(args, "--clips", 10), seconds = IntArg(args, "--seconds", 10);
        var size = StrArg(args, "--size", "340x256").Split('x').Select(int.Parse).ToArray();
        int cores = Environment.ProcessorCount;
        const int NumFrames = 32, SamplingRate = 2, TargetFps = 30, AudioSamples = 94080;
        double clipFps = (double)TargetFps / SamplingRate, clipSeconds = NumFrames / clipFps;

        var dir = Directory.CreateTempSubdirectory("avbert-decodebench-").FullName;
        try
        {
            Console.WriteLine($"generating {files} files: {seconds} s, {size[0]}x{size[1]} H.264 30 fps (GOP 2 s) + AAC 44.1 kHz stereo ...");
            var paths = Enumerable.Range(0, files).Select(i => Generate(dir, i, seconds, size[0], size[1])).ToList();

            // Output size: short side 128 (SPEC test scale), aspect kept.
            int h = 128, w = (int)Math.Round(128.0 * size[0] / size[1] / 2) * 2;
            long FileWork(string p, bool perClip)
            {
                var info = MediaProbe.Probe(p);
                double last = Math.Max(0, info.DurationSeconds - clipSeconds);
                var starts = Enumerable.Range(0, clips).Select(k => clips == 1 ? 0 : k * last / (clips - 1)).ToArray();
                var video = perClip ? starts.Select(s => VideoDecoder.Decode(p, s, NumFrames, clipFps, w, h)).ToArray()
                                    : VideoDecoder.DecodeClips(p, starts, NumFrames, clipFps, w, h);
                var audio = AudioDecoder.DecodeWindows(p, starts, AudioSamples, 44100);
                long checksum = 0;
                var floats = new float[video[0].Rgb.Length];
                foreach (var v in video)
                {
                    for (int i = 0; i < floats.Length; i++) floats[i] = (v.Rgb[i] / 255f - 0.45f) / 0.225f; // normalise, as the model wants
                    checksum += (long)floats[floats.Length / 2];
                }
                foreach (var a in audio) checksum += a.RealSamples;
                return checksum;
            }

            var rows = new List<(string What, int Workers, double ClipsPerSecond)>();
            if (args.Contains("--breakdown"))
            {
                var starts = Enumerable.Range(0, clips).Select(k => k * (seconds - clipSeconds) / (clips - 1)).ToArray();
                var rgb = new byte[NumFrames * w * h * 3];
                var floats = new float[rgb.Length];
                foreach (var (name, work) in new (string, Func<string, long>)[]
                {
                    ("probe", p => (long)MediaProbe.Probe(p).DurationSeconds),
                    ("DecodeClips", p => VideoDecoder.DecodeClips(p, starts, NumFrames, clipFps, w, h).Length),
                    ("DecodeWindows", p => AudioDecoder.DecodeWindows(p, starts, AudioSamples, 44100).Length),
                    ("normalise to float", p => { for (int c = 0; c < clips; c++) for (int i = 0; i < floats.Length; i++) floats[i] = (rgb[i] / 255f - 0.45f) / 0.225f; return 0; }),
                })
                    Console.WriteLine($"  {name,-20} {1000 * Time(paths, 1, work) / files,7:0.0} ms per file (1 worker)");
            }
            foreach (int workers in new[] { 1, cores }.Distinct())
            {
                MediaOptions.DecoderThreads = 0;
                rows.Add(("ffmpeg -f null (floor)", workers, clips * files / Time(paths, workers, p => NullDecode(p))));
                rows.Add(("probe + DecodeClips + DecodeWindows", workers, clips * files / Time(paths, workers, p => FileWork(p, false))));
                rows.Add(("probe + Decode per clip + DecodeWindows", workers, clips * files / Time(paths, workers, p => FileWork(p, true))));
            }
            Console.WriteLine();
            Console.WriteLine($"machine: {cores} cores; {files} files × {clips} clips; clip = {NumFrames} frames at {clipFps} fps → {w}x{h} RGB + {AudioSamples} samples");
            Console.WriteLine($"{"what",-42} {"workers",7} {"clips/s",9} {"vs floor",9}");
            foreach (var r in rows)
            {
                double floor = rows.First(x => x.Workers == r.Workers).ClipsPerSecond;
                Console.WriteLine($"{r.What,-42} {r.Workers,7} {r.ClipsPerSecond,9:0.0} {r.ClipsPerSecond / floor,8:0.00}×");
            }
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    static double Time(List<string> paths, int workers, Func<string, long> work)
    {
        work(paths[0]); // warm-up (disk cache, JIT)
        var sw = Stopwatch.StartNew();
        Parallel.ForEach(paths, new ParallelOptions { MaxDegreeOfParallelism = workers }, p => work(p));
        return sw.Elapsed.TotalSeconds;
    }

    static long NullDecode(string path)
    {
        BenchFfmpeg.Run(["-nostdin", "-v", "error", "-i", path, "-f", "null", "-"]);
        return 0;
    }

    static string Generate(string dir, int i, int seconds, int width, int height)
    {
        var path = Path.Combine(dir, $"bench{i}.mp4");
        var inv = CultureInfo.InvariantCulture;
        BenchFfmpeg.Run(["-y", "-v", "error", "-f", "lavfi", "-i", $"testsrc2=s={width}x{height}:r=30:d={seconds}",
                   "-f", "lavfi", "-i", $"sine=frequency={(220 + 40 * i).ToString(inv)}:sample_rate=44100:duration={seconds}",
                   "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", path]);
        return path;
    }


    static int IntArg(string[] args, string name, int fallback) => int.TryParse(StrArg(args, name, ""), out var v) ? v : fallback;

    static string StrArg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
