using System.Diagnostics;
using System.Globalization;
using AvBert.Config;
using AvBert.Synthetic;

namespace AvBert.Tests.Synthetic;

public class SynthTests
{
    [Fact]
    public void Synth_writes_playable_videos_with_audio_a_csv_and_class_folders()
    {
        var data = ConfigLoader.Load("small").Data;
        var toy = new ToyAv(new ToyAvOptions { NumClasses = 3 }, data);
        var dir = TestSetup.TempDir("synth");
        try
        {
            var files = new ToyAvWriter(toy, data.TargetFps).Write(dir, new ToyAvWriteOptions { TrainVideos = 3, TestVideos = 1, FrameSize = 64 });
            Assert.Equal(4, files.Count);
            Assert.Equal(toy.Classes.Select(c => c.Name), File.ReadAllLines(Path.Combine(dir, "classes.txt")));
            var rows = File.ReadAllLines(Path.Combine(dir, "train.csv"));
            Assert.Equal("path,label", rows[0]);
            Assert.Equal(4, rows.Length);
            foreach (var f in files)
            {
                var path = Path.Combine(dir, f.RelativePath);
                Assert.Equal(f.Class.Name, Path.GetFileName(Path.GetDirectoryName(path)));
                var streams = Probe(path);
                Assert.Contains(streams, s => s.StartsWith("video,64,64,30/1"));
                Assert.Contains(streams, s => s.StartsWith("audio,") && s.Contains(",44100"));
                var seconds = streams.Select(s => double.Parse(s.Split(',')[^1], CultureInfo.InvariantCulture)).ToList();
                Assert.All(seconds, s => Assert.InRange(s, toy.DurationSeconds - 0.1, toy.DurationSeconds + 0.1));
            }
            Assert.Empty(Directory.GetFiles(dir, "*.tmp*", SearchOption.AllDirectories));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Cancelling_synth_kills_its_encoder_and_leaves_no_partial_files()
    {
        var data = ConfigLoader.Load("small").Data with { SequenceLength = 60 };   // a 32 s video
        var toy = new ToyAv(new ToyAvOptions { NumClasses = 3 }, data);
        var dir = TestSetup.TempDir("synth-cancel");
        try
        {
            var target = Path.Combine(dir, "video.mp4");
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            // 960 frames of 512² take seconds to render and encode, so the token fires mid-video.
            Assert.ThrowsAny<OperationCanceledException>(() =>
                new ToyAvWriter(toy, data.TargetFps).WriteVideo(toy.Scene(ToyAvSplit.Train, 0), target, 512, ct: cts.Token));
            Assert.False(File.Exists(target));
            Assert.Empty(Directory.GetFiles(dir));
            Assert.Empty(ChildrenMentioning(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Processes still alive whose command line mentions <paramref name="text"/>.</summary>
    static List<int> ChildrenMentioning(string text)
    {
        var found = new List<int>();
        foreach (var d in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out int pid)) continue;
            try
            {
                var cmd = File.ReadAllText(Path.Combine(d, "cmdline")).Replace('\0', ' ');
                var stat = File.ReadAllText(Path.Combine(d, "stat"));
                bool zombie = stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
                if (!zombie && cmd.Contains(text)) found.Add(pid);
            }
            catch (IOException) { } // the process ended while we looked
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    /// <summary>One line per stream: "codec_type,width,height,r_frame_rate" / "codec_type,sample_rate", then duration.</summary>
    static List<string> Probe(string path)
    {
        var psi = new ProcessStartInfo("ffprobe", ["-v", "error", "-show_entries", "stream=codec_type,width,height,r_frame_rate,sample_rate,duration", "-of", "json", path])
            { RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var json = System.Text.Json.JsonDocument.Parse(p.StandardOutput.ReadToEnd());
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        var result = new List<string>();
        foreach (var s in json.RootElement.GetProperty("streams").EnumerateArray())
        {
            string Get(string k) => s.TryGetProperty(k, out var v) ? v.ToString() : "";
            result.Add(Get("codec_type") == "video"
                ? $"video,{Get("width")},{Get("height")},{Get("r_frame_rate")},{Get("duration")}"
                : $"audio,{Get("sample_rate")},{Get("duration")}");
        }
        return result;
    }
}
