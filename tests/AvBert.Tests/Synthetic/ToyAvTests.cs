using AvBert.Config;
using AvBert.Synthetic;

namespace AvBert.Tests.Synthetic;

public class ToyAvTests
{
    static readonly DataConfig Data = ConfigLoader.Load("small").Data;

    static ToyAv Make(int seed = 0, int classes = 8, int offscreen = 1) =>
        new(new ToyAvOptions { Seed = seed, NumClasses = classes, OffscreenSounds = offscreen }, Data);

    [Fact]
    public void Same_seed_split_and_index_give_identical_videos()
    {
        var a = Make(seed: 3);
        var b = Make(seed: 3);
        Assert.Equal(a.VisualClips(a.Scene(ToyAvSplit.Train, 5)), b.VisualClips(b.Scene(ToyAvSplit.Train, 5)));
        Assert.Equal(a.Waveform(a.Scene(ToyAvSplit.Train, 5)), b.Waveform(b.Scene(ToyAvSplit.Train, 5)));
    }

    [Fact]
    public void Different_seed_split_or_index_give_different_videos()
    {
        var a = Make(seed: 3);
        var v = a.VisualClips(a.Scene(ToyAvSplit.Train, 5));
        Assert.NotEqual(v, a.VisualClips(a.Scene(ToyAvSplit.Train, 6)));
        Assert.NotEqual(v, a.VisualClips(a.Scene(ToyAvSplit.Test, 5)));
        var c = Make(seed: 4);
        Assert.NotEqual(v, c.VisualClips(c.Scene(ToyAvSplit.Train, 5)));
    }

    [Fact]
    public void Labels_are_balanced_in_every_run_of_num_classes_videos()
    {
        var d = Make(classes: 6);
        for (int block = 0; block < 5; block++)
        {
            var labels = Enumerable.Range(block * 6, 6).Select(i => d.Scene(ToyAvSplit.Test, i).Label).OrderBy(x => x);
            Assert.Equal(Enumerable.Range(0, 6), labels);
        }
        // ...and not in the same order every time.
        var firsts = Enumerable.Range(0, 10).Select(b => d.Label(ToyAvSplit.Train, b * 6)).Distinct().Count();
        Assert.True(firsts > 1);
    }

    [Fact]
    public void Every_video_has_an_event_and_the_sounding_object_has_its_class_colour()
    {
        var d = Make();
        for (int i = 0; i < 40; i++)
        {
            var s = d.Scene(ToyAvSplit.Train, i);
            Assert.NotEmpty(s.Events);
            // The sounding object wears its class's hue; each distractor wears another class's hue.
            Assert.All(s.Sprites.Where(x => x.Sounding), x => Assert.Equal(s.Label, NearestClass(d, x.Rgb)));
            Assert.All(s.Sprites.Where(x => !x.Sounding), x => Assert.NotEqual(s.Label, NearestClass(d, x.Rgb)));
            Assert.Equal(d.Options.Distractors * d.Clips, s.Sprites.Count(x => !x.Sounding));
            // Each sound of the class starts and ends with a move of the sounding object; other sounds are of classes
            // that are not on screen.
            Assert.All(s.Sounds.Where(x => x.ClassIndex == s.Label), snd => Assert.Contains(snd.When, s.Events));
            Assert.Equal(s.Events.Count(), s.Sounds.Count(x => x.ClassIndex == s.Label));
            var onScreen = s.Sprites.Select(x => NearestClass(d, x.Rgb)).ToHashSet();
            Assert.All(s.Sounds.Where(x => x.ClassIndex != s.Label), snd => Assert.DoesNotContain(snd.ClassIndex, onScreen));
            Assert.True(s.Sounds.Select(x => x.ClassIndex).Distinct().Count() <= 1 + d.Options.OffscreenSounds);
        }
    }

    static int NearestClass(ToyAv d, float[] rgb)
    {
        float max = rgb.Max(), min = rgb.Min(), c = max - min;
        double h = c == 0 ? 0 : max == rgb[0] ? ((rgb[1] - rgb[2]) / c % 6 + 6) % 6 : max == rgb[1] ? (rgb[2] - rgb[0]) / c + 2 : (rgb[0] - rgb[1]) / c + 4;
        h /= 6;
        return d.Classes.OrderBy(k => Math.Min(Math.Abs(k.Hue - h), 1 - Math.Abs(k.Hue - h))).First().Index;
    }

    [Fact]
    public void Class_contours_differ_and_start_from_the_base_pitch()
    {
        var classes = ToyAvClasses.Table(8);
        Assert.Equal(8, classes.Select(c => c.Contour).Distinct().Count());
        Assert.Equal(8, classes.Select(c => c.ColourName).Distinct().Count());
        Assert.All(classes, c => Assert.Equal(0, c.SemitonesAt(0), 6));
        Assert.True(classes[1].SemitonesAt(0.9) > 10 && classes[2].SemitonesAt(0.9) < -10); // rise, fall
    }

    [Fact]
    public void Sound_energy_is_high_exactly_when_the_sounding_object_moves()
    {
        var d = Make(offscreen: 0); // without off-screen sounds, all sound is the event's
        for (int i = 0; i < 8; i++)
        {
            var s = d.Scene(ToyAvSplit.Train, i);
            var wave = d.Waveform(s);
            int sr = d.SampleRate;
            var during = s.Events.SelectMany(e => Enumerable.Range((int)(e.Start * sr) + 400, (int)(e.Seconds * sr * 0.5))).ToHashSet();
            var outside = Enumerable.Range(0, wave.Length).Where(k => !s.Events.Any(e => k >= (e.Start - 0.01) * sr && k < (e.End + 0.01) * sr)).ToList();
            double rmsIn = Math.Sqrt(during.Average(k => (double)wave[k] * wave[k]));
            double rmsOut = Math.Sqrt(outside.Average(k => (double)wave[k] * wave[k]));
            Assert.True(rmsIn > 2 * rmsOut, $"video {i}: rms during events {rmsIn:0.000} vs outside {rmsOut:0.000}");

            // The sounding object is displaced (or scaled) during its events and at rest outside them.
            var obj = s.Sprites.First(x => x.Sounding && x.Moves.Count > 0);
            var e0 = obj.Moves[0];
            var mid = d.Renderer.MotionAt(obj, e0.Start + e0.Seconds * 0.3);
            Assert.True(Math.Abs(mid.dx) + Math.Abs(mid.dy) + Math.Abs(mid.scale - 1) > 0.01);
            Assert.Equal((0.0, 0.0, 1.0), d.Renderer.MotionAt(obj, e0.End + 0.01));
        }
    }

    [Fact]
    public void Sounding_glow_lights_up_the_sounding_object_only_while_it_sounds()
    {
        var plain = new ToyAv(new ToyAvOptions { SoundingGlow = 0 }, Data);
        var glowing = new ToyAv(new ToyAvOptions { SoundingGlow = 1 }, Data);
        var s = plain.Scene(ToyAvSplit.Train, 2);
        var obj = s.Sprites.First(x => x.Sounding && x.Moves.Count > 0);
        var e = obj.Moves[0];
        int n = 64;
        float[] At(ToyAv d, double t) { var f = new float[3 * n * n]; d.Renderer.RenderFrame(s, t, n, n, f); return f; }
        // Outside the sounding object's events the frames are the same with and without glow (distractors never glow) ...
        foreach (var t in new[] { e.Start - 0.02, e.End + 0.01 })
            if (!s.Events.Any(x => x.Contains(t)))
                Assert.Equal(At(plain, t), At(glowing, t));
        // ... and while it sounds, its pixels turn white: brighter, and no channel darker.
        var mid = e.Start + e.Seconds / 2;
        var (a, b) = (At(plain, mid), At(glowing, mid));
        int brighter = a.Zip(b, (x, y) => y - x).Count(dv => dv > 0.1);
        Assert.True(brighter > 20, $"pixels lit up: {brighter}");
        Assert.All(a.Zip(b, (x, y) => y - x), dv => Assert.True(dv > -0.2));
    }

    [Fact]
    public void Frames_change_where_the_sounding_object_moves()
    {
        // Short events without glow, so that frames just before one are still inside the same clip window and the change is motion.
        var d = new ToyAv(new ToyAvOptions { EventSeconds = [0.16, 0.3], SoundingGlow = 0 }, Data);
        var s = d.Scene(ToyAvSplit.Train, 1);
        var obj = s.Sprites.First(x => x.Sounding && x.Moves.Count > 0);
        var e = obj.Moves[0];
        int n = 64;
        float[] At(double t) { var f = new float[3 * n * n]; d.Renderer.RenderFrame(s, t, n, n, f); return f; }
        double Diff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Where(v => v > 0.3).Count();
        // Before the event the picture is still (only noise changes); during it, object pixels change.
        double still = Diff(At(e.Start - 0.04), At(e.Start - 0.01));
        double moving = Diff(At(e.Start + e.Seconds * 0.25), At(e.Start + e.Seconds * 0.5));
        Assert.True(moving > still + 5, $"changed pixels: moving {moving}, still {still}");
    }

    [Fact]
    public void Batch_is_in_the_model_input_format()
    {
        var d = Make();
        using var b = d.Batch(ToyAvSplit.Train, [0, 1, 2]);
        Assert.Equal(new long[] { 3, Data.SequenceLength, 3, Data.NumFrames, Data.TestCropSize, Data.TestCropSize }, b.Visual.shape);
        Assert.Equal(new long[] { 3, Data.SequenceLength, 1, Data.AudioFrequency, Data.AudioTime }, b.Audio.shape);
        Assert.Equal(new long[] { 3 }, b.Labels.shape);
        Assert.True(b.Visual.isfinite().all().item<bool>() && b.Audio.isfinite().all().item<bool>());
        // Normalised with mean 0.45 / std 0.225: pixels in [0,1] map to [-2, 2.45].
        Assert.InRange(b.Visual.min().item<float>(), -2.01f, 0f);
        Assert.InRange(b.Visual.max().item<float>(), 0f, 2.45f);
        Assert.Equal(Enumerable.Range(0, 3).Select(i => (long)d.Label(ToyAvSplit.Train, i)), b.Labels.data<long>().ToArray());
    }
}
