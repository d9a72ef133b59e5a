using AvBert.Config;
using AvBert.Data;
using AvBert.Media;
using AvBert.Data.Sources;

namespace AvBert.Tests.Data;

/// <summary>The audio task on short files: each file's audio is decoded once, not once per window.</summary>
public sealed class ShortAudioTests : IDisposable
{
    readonly string _dir = TestSetup.TempDir("short-audio");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    static readonly DataConfig Tiny = new() { AudioFrequency = 16, AudioTime = 16 };

    [Fact]
    public void The_windows_of_a_short_file_share_one_decode_across_views_and_epochs_and_equal_per_window_decodes()
    {
        var files = Enumerable.Range(0, 2).Select(i => TestMedia.Make(_dir, $"a{i}", new TestMediaSpec
        {
            Seconds = 3, Video = false, Extension = "m4a", Channels = 2, ToneHz = 500 + 300 * i,
        })).ToList();
        var items = files.Select(f => new MediaItem(f, [0])).ToList();
        var options = SequenceOptions.Esc50(SampleMode.Train, views: 10, windowSeconds: 1);
        var once = new VideoSequenceDataset(items, Tiny, options);
        var each = new VideoSequenceDataset(items, Tiny, options);
        each.Reader.WaveformCacheBytes = 0;   // a decode per window, as before

        foreach (var f in files) MediaProbe.Probe(f);   // probes are cached per file anyway: count decodes only
        long before = FfmpegProcess.StartedOnThisThread;
        var shared = new List<float[]>();
        for (int epoch = 0; epoch < 2; epoch++)
            for (int i = 0; i < once.Count; i++) { shared.Add(once.Load(i, 3, epoch, default).Audio!);}
        Assert.Equal(2, FfmpegProcess.StartedOnThisThread - before);   // one per file for 2 epochs × 20 windows

        for (int i = 0; i < once.Count; i++) Assert.Equal(each.Load(i, 3, 1, default).Audio, shared[once.Count + i]);
    }
}
