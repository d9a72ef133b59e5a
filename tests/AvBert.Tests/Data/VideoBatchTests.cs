using AvBert.Config;
using AvBert.Data;
using AvBert.Features;
using static TorchSharp.torch;

namespace AvBert.Tests.Data;

public class VideoBatchTests
{
    static ClipSequence Sample(int index, int T, int F, int S, bool flip, PixelNormalization pixels, int freq = 4, int time = 5)
    {
        var rng = new Random(index);
        var bytes = new byte[T * F * S * S * 3];
        rng.NextBytes(bytes);
        var audio = Enumerable.Range(0, T * freq * time).Select(_ => (float)rng.NextDouble()).ToArray();
        return new ClipSequence
        {
            Index = index, ItemIndex = index, Path = $"v{index}.mp4", Labels = [index],
            Visual = bytes, VisualShape = [T, F, S, S, 3], VisualFlip = flip, Pixels = pixels,
            Audio = audio, AudioShape = [T, 1, freq, time],
        };
    }

    /// <summary>The loader's host transform before the model input moved to the device (kept here as the reference):
    /// [T, 3, F, S, S] = byte·(1/(255·std)) + (−mean/std) in float32, the width axis reversed when flipped.</summary>
    static float[] HostModelInput(ClipSequence s, DataConfig data)
    {
        int T = (int)s.VisualShape[0], F = (int)s.VisualShape[1], S = (int)s.VisualShape[2];
        var dst = new float[T * 3 * F * S * S];
        for (int t = 0; t < T; t++)
            for (int c = 0; c < 3; c++)
            {
                float scale = (float)(1.0 / (255.0 * data.Std[c])), shift = (float)(-data.Mean[c] / data.Std[c]);
                for (int f = 0; f < F; f++)
                    for (int y = 0; y < S; y++)
                        for (int x = 0; x < S; x++)
                        {
                            int src = s.VisualFlip ? S - 1 - x : x;
                            dst[(((t * 3 + c) * F + f) * S + y) * S + x] = s.Visual![(((t * F + f) * S + y) * S + src) * 3 + c] * scale + shift;
                        }
            }
        return dst;
    }

    [Fact]
    public void Model_input_made_where_the_model_is_equals_the_host_transform_bit_for_bit()
    {
        var data = new DataConfig { Mean = [0.45, 0.4, 0.35], Std = [0.225, 0.25, 0.3] };
        var pixels = new VisualTransform(data).Normalization;
        var items = new[] { Sample(0, 2, 3, 5, flip: true, pixels), Sample(1, 2, 3, 5, flip: false, pixels), Sample(2, 2, 3, 5, flip: true, pixels) };
        using var batch = VideoBatch.Collate(items);
        Assert.Equal(new[] { true, false, true }, batch.Flips);
        var (visual, audio) = batch.ToDevice(CPU);
        using (visual) using (audio)
        {
            Assert.Equal(new long[] { 3, 2, 3, 3, 5, 5 }, visual!.shape);
            Assert.True(visual.is_contiguous());
            var got = visual.data<float>().ToArray();
            int per = got.Length / 3;
            for (int b = 0; b < 3; b++)
            {
                var want = HostModelInput(items[b], data);
                for (int i = 0; i < per; i++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(want[i]), BitConverter.SingleToInt32Bits(got[b * per + i]));
            }
            Assert.Equal(items.SelectMany(s => s.Audio!), audio!.data<float>().ToArray());
            Assert.NotSame(batch.Audio, audio);                               // the step's copy: disposing it leaves the batch intact
        }
        // One sample alone (inspection, VideoSequenceDataset.Get) goes through the same transform.
        using var one = items[0].ToSample();
        Assert.Equal(HostModelInput(items[0], data), one.Visual!.data<float>().ToArray());
    }

    [Fact]
    public void A_queued_batch_at_the_full_geometry_takes_about_a_quarter_of_its_float_model_input()
    {
        var data = ConfigLoader.Load("full", null, []).Data;
        int T = data.SequenceLength, F = data.NumFrames, S = data.TrainCropSize;
        var pixels = new VisualTransform(data).Normalization;
        var items = Enumerable.Range(0, 2).Select(i => Sample(i, T, F, S, i == 1, pixels, data.AudioFrequency, data.AudioTime)).ToArray();
        using var batch = VideoBatch.Collate(items);
        long Bytes(Tensor? t) => t is null ? 0 : t.NumberOfElements * t.ElementSize;
        long queued = Bytes(batch.Visual) + Bytes(batch.Audio);
        var (visual, audio) = batch.ToDevice(CPU);
        using (visual) using (audio)
        {
            long input = Bytes(visual) + Bytes(audio);
            Assert.Equal(4 * Bytes(batch.Visual), Bytes(visual));
            Assert.InRange((double)queued / input, 0.25, 0.26);                 // was 1: the loader queued float32 model input
        }
    }
}
