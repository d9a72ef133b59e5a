using AvBert.Config;
using AvBert.Features;

namespace AvBert.Tests.Features;

public class ClipSamplingTests
{
    [Fact]
    public void Sequence_positions_spread_uniformly_and_audio_is_aligned()
    {
        var r = ClipSampling.UniformPositions(10);
        Assert.Equal(0, r[0]);
        Assert.Equal(1, r[9]);
        Assert.Equal(4.0 / 9, r[4], 12);
        // 10 s video, 2.1333 s clips: start k·(10 − 2.1333)/9; audio the same fraction of (N − W).
        double span = 32 * 2 / 30.0;
        Assert.Equal(3 * (10 - span) / 9, ClipSampling.VisualStart(r[3], 10, span), 9);
        Assert.Equal((long)Math.Floor(3.0 / 9 * (441000 - 94080)), ClipSampling.AudioStart(r[3], 441000, 94080));
        // same time in both streams (to within a sample) when the streams are equally long
        Assert.Equal(ClipSampling.VisualStart(r[3], 10, span) * 44100, ClipSampling.AudioStart(r[3], 441000, 94080), 0.99);
    }

    [Fact]
    public void One_clip_sits_in_the_middle_and_short_videos_start_every_clip_at_zero()
    {
        Assert.Equal(new[] { 0.5 }, ClipSampling.UniformPositions(1));
        Assert.Equal(4.0, ClipSampling.VisualStart(0.5, 10, 2), 12);
        Assert.All(ClipSampling.UniformPositions(5), p => Assert.Equal(0, ClipSampling.VisualStart(p, 1.5, 2.13)));
        Assert.All(ClipSampling.UniformPositions(5), p => Assert.Equal(0, ClipSampling.AudioStart(p, 50_000, 94_080)));
    }

    [Fact]
    public void Single_clip_views_cover_the_video_as_the_reference_does()
    {
        // UCF101 style: 10 views of 1 clip = positions v/9; 2 views of 3 clips = 6 positions over [0, 1].
        Assert.Equal(new[] { 5.0 / 9 }, ClipSampling.ViewPositions(5, 10, 1));
        Assert.Equal(new[] { 0.6, 0.8, 1.0 }, ClipSampling.ViewPositions(1, 2, 3).Select(x => Math.Round(x, 12)));
    }

    [Fact]
    public void Audio_windows_past_the_end_are_zero_padded()
    {
        var wave = Enumerable.Range(1, 10).Select(i => (float)i).ToArray();
        var w = ClipSampling.CutWindows(wave, [0, 6], 6);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0 }, w);
    }
}

public class VisualTransformTests
{
    static readonly DataConfig Data = new();

    [Fact]
    public void Short_side_scaling_keeps_the_aspect_ratio_with_pyslowfast_rounding()
    {
        Assert.Equal((170, 128), VisualTransform.ScaleShortSide(340, 256, 128));
        Assert.Equal((128, 227), VisualTransform.ScaleShortSide(720, 1280, 128));
        Assert.Equal((128, 128), VisualTransform.ScaleShortSide(50, 50, 128));
    }

    [Fact]
    public void An_extreme_aspect_ratio_is_squeezed_to_4_to_1_instead_of_asking_for_gigabytes()
    {
        Assert.Equal((512, 128), VisualTransform.ScaleShortSide(4096, 2, 128));   // not 262144x128
        Assert.Equal((256, 1024), VisualTransform.ScaleShortSide(3, 60000, 256));
        Assert.Equal((455, 256), VisualTransform.ScaleShortSide(1920, 1080, 256)); // ordinary frames unchanged
        var view = new VisualTransform(Data).Test(4096, 2, 2);
        Assert.True(view.CropX + view.CropSize <= view.ScaledWidth);
    }

    [Fact]
    public void Test_crops_are_left_centre_right_on_landscape_and_top_centre_bottom_on_portrait()
    {
        var t = new VisualTransform(Data);
        var land = Enumerable.Range(0, 3).Select(i => t.Test(320, 240, i)).ToArray();   // scaled to 170x128
        Assert.Equal(new[] { 0, 21, 42 }, land.Select(v => v.CropX));                    // centre = ceil(42/2)
        Assert.All(land, v => Assert.Equal(0, v.CropY));
        var port = Enumerable.Range(0, 3).Select(i => t.Test(240, 321, i)).ToArray();    // scaled to 128x171
        Assert.Equal(new[] { 0, 22, 43 }, port.Select(v => v.CropY));                    // centre = ceil(43/2)
        Assert.All(port, v => { Assert.Equal(0, v.CropX); Assert.False(v.Flip); Assert.Equal(128, v.CropSize); });
    }

    [Fact]
    public void Train_views_jitter_scale_crop_and_flip_within_bounds_reproducibly()
    {
        var t = new VisualTransform(Data);
        var views = Enumerable.Range(0, 400).Select(i => t.SampleTrain(320, 240, new Random(i))).ToArray();
        Assert.All(views, v =>
        {
            Assert.InRange(v.ShortSide, 128, 160);
            Assert.InRange(v.CropX, 0, v.ScaledWidth - 112);
            Assert.InRange(v.CropY, 0, v.ScaledHeight - 112);
        });
        Assert.Contains(views, v => v.ShortSide == 128);
        Assert.Contains(views, v => v.ShortSide == 160);
        Assert.InRange(views.Count(v => v.Flip), 150, 250);
        Assert.Equal(t.SampleTrain(320, 240, new Random(42)), t.SampleTrain(320, 240, new Random(42)));
    }

    [Fact]
    public void Crop_then_model_input_crops_flips_normalises_and_lays_out_channels_first()
    {
        // 2 frames of 4x3 (w x h); pixel value encodes (frame, y, x, channel).
        int w = 4, h = 3, f = 2;
        var rgb = new byte[f * h * w * 3];
        for (int fi = 0; fi < f; fi++) for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) for (int c = 0; c < 3; c++)
            rgb[((fi * h + y) * w + x) * 3 + c] = (byte)(fi * 100 + y * 20 + x * 4 + c);
        var data = new DataConfig { Mean = [0.5, 0.25, 0], Std = [0.5, 0.5, 1] };
        var crops = new byte[f * 2 * 2 * 3];
        VisualTransform.Crop(rgb, f, new VisualView(w, h, CropX: 1, CropY: 1, CropSize: 2, Flip: true, SpatialIndex: -1), crops);
        // The crop keeps bytes as they are, HWC per frame, not flipped.
        Assert.Equal(rgb[((1 * h + 2) * w + 2) * 3 + 1], crops[((1 * 2 + 1) * 2 + 1) * 3 + 1]);
        var dst = new VisualTransform(data).Normalization.ToModelArray(crops, [1, f, 2, 2, 3], flip: true);
        Assert.Equal(3 * f * 2 * 2, dst.Length);
        // The host formula the loader used before normalisation moved to the device: byte·(1/(255·std)) + (−mean/std) in float32.
        float Expect(int fi, int y, int x, int c) =>
            (fi * 100 + y * 20 + x * 4 + c) * (float)(1.0 / (255.0 * data.Std[c])) + (float)(-data.Mean[c] / data.Std[c]);
        // dst[c, fi, yy, xx] comes from crop pixel (1+yy, 1+(1-xx)) because of the flip: bit for bit.
        for (int c = 0; c < 3; c++) for (int fi = 0; fi < f; fi++) for (int yy = 0; yy < 2; yy++) for (int xx = 0; xx < 2; xx++)
            Assert.Equal(BitConverter.SingleToInt32Bits(Expect(fi, 1 + yy, 1 + (1 - xx), c)), BitConverter.SingleToInt32Bits(dst[((c * f + fi) * 2 + yy) * 2 + xx]));
    }
}

public class SpectrogramMaskTests
{
    [Fact]
    public void Masks_have_reference_bounds_and_are_reproducible()
    {
        for (int seed = 0; seed < 300; seed++)
        {
            var m = SpectrogramMasks.Sample(new Random(seed), 80, 128, 0.05, 0.05);
            Assert.InRange(m.FrequencyWidth, 0, 4);                 // ⌊80·0.05⌋
            Assert.InRange(m.TimeWidth, 0, 6);                      // ⌊128·0.05⌋
            Assert.InRange(m.FrequencyStart + m.FrequencyWidth, 0, 80);
            Assert.InRange(m.TimeStart + m.TimeWidth, 0, 128);
        }
        Assert.Equal(SpectrogramMasks.Sample(new Random(3), 80, 128, 0.05, 0.05), SpectrogramMasks.Sample(new Random(3), 80, 128, 0.05, 0.05));
    }

    [Fact]
    public void The_same_rows_and_columns_are_zeroed_in_every_clip()
    {
        int freq = 8, time = 10, clips = 3;
        var spec = Enumerable.Repeat(1f, clips * freq * time).ToArray();
        var m = new SpectrogramMasks(FrequencyStart: 2.5, FrequencyWidth: 2, TimeStart: 6, TimeWidth: 1.5);
        m.Apply(spec, freq, time);
        for (int c = 0; c < clips; c++) for (int f = 0; f < freq; f++) for (int t = 0; t < time; t++)
        {
            bool masked = f is 3 or 4 || t is 6 or 7;               // 2.5 ≤ f < 4.5, 6 ≤ t < 7.5
            Assert.Equal(masked ? 0f : 1f, spec[(c * freq + f) * time + t]);
        }
    }
}

public class CropResampledTests
{
    static byte[] Frames(int w, int h, int frames, Func<int, int, int, int, byte> pixel)
    {
        var rgb = new byte[frames * h * w * 3];
        for (int f = 0; f < frames; f++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++)
                        rgb[((f * h + y) * w + x) * 3 + c] = pixel(f, y, x, c);
        return rgb;
    }

    [Fact]
    public void At_the_stored_size_it_is_the_plain_crop()
    {
        var rgb = Frames(12, 10, 3, (f, y, x, c) => (byte)(f * 50 + y * 7 + x * 3 + c));
        var view = new VisualView(12, 10, CropX: 3, CropY: 2, CropSize: 6, Flip: false, SpatialIndex: -1);
        var plain = new byte[3 * 6 * 6 * 3];
        var resampled = new byte[plain.Length];
        VisualTransform.Crop(rgb, 3, view, plain);
        VisualTransform.CropResampled(rgb, 12, 10, 3, view, resampled);
        Assert.Equal(plain, resampled);
    }

    [Fact]
    public void Shrinking_averages_under_a_widened_triangle_so_a_ramp_stays_a_ramp_and_a_flat_frame_stays_flat()
    {
        // Stored 40×8, value 2·x in every channel; the view scales to 20×4 (half) and crops 3×3 at (5, 1). Output pixel x
        // centres on stored x' = 2x + 0.5 under a triangle of half-width 2: taps 2x−1 .. 2x+2 weighing 1:3:3:1, so a linear
        // ramp gives its value at the centre, 2·(2x + 0.5) = 4x + 1, exactly.
        var ramp = Frames(40, 8, 2, (f, y, x, c) => (byte)(2 * x));
        var view = new VisualView(20, 4, CropX: 5, CropY: 1, CropSize: 3, Flip: false, SpatialIndex: -1);
        var dst = new byte[2 * 3 * 3 * 3];
        VisualTransform.CropResampled(ramp, 40, 8, 2, view, dst);
        for (int f = 0; f < 2; f++)
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < 3; x++)
                    Assert.Equal(4 * (5 + x) + 1, dst[((f * 3 + y) * 3 + x) * 3 + 1]);

        // Any scale, grown or shrunk, keeps a flat frame flat; with stride 2 the frame between is never read.
        var flat = Frames(50, 30, 3, (f, y, x, c) => (byte)(f == 1 ? 0 : 77 + c));
        foreach (var (sw, sh) in new[] { (37, 22), (64, 38), (50, 29) })
        {
            var v = new VisualView(sw, sh, CropX: sw - 16, CropY: 3, CropSize: 16, Flip: false, SpatialIndex: -1);
            var o = new byte[2 * 16 * 16 * 3];
            VisualTransform.CropResampled(flat, 50, 30, 2, v, o, frameStride: 2);
            Assert.Equal(Enumerable.Range(0, 2 * 16 * 16).SelectMany(_ => new byte[] { 77, 78, 79 }), o);
        }
        // Too few stored frames is an error, not a read past the end.
        Assert.Throws<ArgumentException>(() => VisualTransform.CropResampled(flat, 50, 30, 3, new VisualView(37, 22, 0, 0, 16, false, -1), new byte[3 * 16 * 16 * 3], frameStride: 2));
    }
}
