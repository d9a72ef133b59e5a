using static TorchSharp.torch;
using AvBert.Data;
using AvBert.Data.Sources;

namespace AvBert.Tests.Data;

public class LoaderEndToEndTests
{
    [Fact]
    public void Real_media_with_bad_files_gives_the_same_batches_with_one_or_many_workers_and_lists_the_bad_files()
    {
        var dir = TestSetup.TempDir("loader-e2e");
        try
        {
            var good = Enumerable.Range(0, 5).Select(i => TestMedia.Make(dir, $"good{i}", new TestMediaSpec
            {
                Seconds = 1 + 0.25 * i, Width = 64 + 16 * i, Height = 48, ToneHz = 300 + 100 * i,
            })).ToList();
            var empty = Path.Combine(dir, "empty.mp4"); File.WriteAllBytes(empty, []);
            var text = Path.Combine(dir, "notes.mp4"); File.WriteAllText(text, "this is not a video\n");
            var truncated = Path.Combine(dir, "truncated.mp4");
            File.WriteAllBytes(truncated, File.ReadAllBytes(good[4])[..2000]);
            var missing = Path.Combine(dir, "gone.mp4");
            var silent = TestMedia.Make(dir, "silent", new TestMediaSpec { Seconds = 1, Audio = false });
            var items = good.Concat([empty, text, truncated, missing, silent]).Select((p, i) => new MediaItem(p, [i % 3])).ToList();
            var ds = new VideoSequenceDataset(items, VideoSequenceDatasetTests.Tiny, new SequenceOptions { Mode = SampleMode.Train });

            List<(int[] Indices, float[] Visual, float[] Audio)> Run(int workers, string runDir, int epochs = 1)
            {
                var log = new SkippedLog(runDir, TextWriter.Null);
                var loader = new BatchLoader(ds, new LoaderOptions { BatchSize = 2, Workers = workers, Seed = 11 }, log);
                var got = new List<(int[], float[], float[])>();
                for (int e = 0; e < epochs; e++)
                    foreach (var b in loader.Epoch(e))
                        using (b)
                        {
                            // Queued as uint8 crops [B, T, F, S, S, 3]: a quarter of the float32 model input it becomes.
                            Assert.Equal(new long[] { b.Count, 3, 4, 32, 32, 3 }, b.Visual!.shape);
                            Assert.Equal(ScalarType.Byte, b.Visual.dtype);
                            var (visual, audio) = b.ToDevice(CPU);
                            using (visual) using (audio)
                            {
                                Assert.Equal(new long[] { b.Count, 3, 3, 4, 32, 32 }, visual!.shape);
                                Assert.Equal(4 * b.Visual.NumberOfElements * b.Visual.ElementSize, visual.NumberOfElements * visual.ElementSize);
                                Assert.Equal(new long[] { b.Count, 3, 1, 16, 16 }, audio!.shape);
                                got.Add((b.Indices, visual.data<float>().ToArray(), audio.data<float>().ToArray()));
                            }
                        }
                return got;
            }

            var serial = Run(1, Path.Combine(dir, "run1"));
            var parallel = Run(3, Path.Combine(dir, "run3"), epochs: 2);
            Assert.Equal(new[] { 2, 2, 1 }, serial.Select(b => b.Indices.Length));
            Assert.Equal(Enumerable.Range(0, 5), serial.SelectMany(b => b.Indices).Order());
            Assert.Equal(serial.Select(b => b.Indices), parallel.Take(3).Select(b => b.Indices));
            Assert.Equal(serial.Select(b => b.Visual), parallel.Take(3).Select(b => b.Visual));
            Assert.Equal(serial.Select(b => b.Audio), parallel.Take(3).Select(b => b.Audio));
            Assert.NotEqual(parallel[0].Visual, parallel[3].Visual);                   // epoch 1 augments differently

            var tsv = File.ReadAllLines(Path.Combine(dir, "run3", SkippedLog.FileName));
            Assert.Equal("path\treason", tsv[0]);
            Assert.Equal(new[] { empty, missing, silent, text, truncated }.Order(), tsv.Skip(1).Select(l => l.Split('\t')[0]).Order());
            Assert.Contains(tsv, l => l.StartsWith(silent) && l.EndsWith("no audio stream"));
            Assert.Contains(tsv, l => l.StartsWith(missing) && l.EndsWith("file not found"));
        }
        finally { Directory.Delete(dir, true); }
    }
}
