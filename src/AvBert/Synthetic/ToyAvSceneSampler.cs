namespace AvBert.Synthetic;

public enum ToyAvSplit { Train, Test }

/// <summary>
/// Draws toy-av scenes. A video is <c>clips</c> windows of <c>clipSeconds</c> each, laid end to end (so the clip sampler of
/// real videos picks exactly these windows). In each window the labelled object is on screen and, in most windows, has one
/// event: it moves with its class's motion and, at the same moment, its class's tone sounds. Distractor objects of other
/// classes move silently at random times; colours, positions, sizes and the background change from window to window
/// (<see cref="ToyAvOptions.PerClipNuisance"/>), so what ties a video together is the event class and the timing.
/// </summary>
public sealed class ToyAvSceneSampler
{
    readonly ToyAvOptions _o;
    readonly IReadOnlyList<ToyAvClass> _classes;
    readonly int _clips;
    readonly double _clipSeconds;

    public ToyAvSceneSampler(ToyAvOptions options, IReadOnlyList<ToyAvClass> classes, int clips, double clipSeconds)
    {
        _o = options;
        _classes = classes;
        _clips = clips;
        _clipSeconds = clipSeconds;
    }

    /// <summary>Labels are balanced: every run of NumClasses consecutive indices holds each class once, in a seeded order.</summary>
    public int Label(ToyAvSplit split, int index)
    {
        int k = _classes.Count;
        var order = Enumerable.Range(0, k).ToArray();
        new ToyRandom(ToyRandom.Mix(_o.Seed, (long)split, index / k, 0x1abe1)).Shuffle(order);
        return order[index % k];
    }

    public ToyAvScene Sample(ToyAvSplit split, int index)
    {
        var rng = new ToyRandom(ToyRandom.Mix(_o.Seed, (long)split, index, 0x5ce7e));
        int label = Label(split, index);
        var cls = _classes[label];
        double cs = _clipSeconds;

        var hasEvent = new bool[_clips];
        for (int t = 0; t < _clips; t++) hasEvent[t] = rng.Chance(_o.EventProbability);
        if (!hasEvent.Any(e => e)) hasEvent[rng.Next(_clips)] = true;

        var sprites = new List<ToySprite>();
        var sounds = new List<ToySound>();
        var backdrops = new List<ToyBackdrop>();
        ToyBackdrop? backdrop = null;
        (float[] rgb, double size)? look = null;
        (double x, double y)? place = null;
        for (int t = 0; t < _clips; t++)
        {
            var window = new TimeSpanSec(t * cs, cs);
            bool redraw = _o.PerClipNuisance || t == 0;
            backdrop = redraw || backdrop is null
                ? new ToyBackdrop(window, rng.Colour(0, 0.6, 0.05, 0.55), rng.Colour(0, 0.6, 0.05, 0.55), rng.Uniform(0, 2 * Math.PI),
                                  rng.Uniform(0, _o.PixelNoise), rng.Uniform(0.1 * _o.AudioNoise, _o.AudioNoise))
                : backdrop with { When = window };
            backdrops.Add(backdrop);

            var taken = new List<(double x, double y, double s)>();
            if (redraw || look is null) look = (rng.Colour(0.5, 1, 0.6, 1), Size(rng));
            if (redraw || place is null) place = Place(rng, look.Value.size, taken);
            taken.Add((place.Value.x, place.Value.y, look.Value.size));

            var moves = new List<TimeSpanSec>();
            if (hasEvent[t])
            {
                var when = RandomInterval(rng, window);
                moves.Add(when);
                double semis = rng.Uniform(-_o.PitchJitterSemitones, _o.PitchJitterSemitones);
                sounds.Add(new ToySound(label, when, Math.Pow(2, semis / 12), rng.Uniform(0.35, 0.8)));
            }
            sprites.Add(new ToySprite(cls.Shape, cls.Motion, look.Value.rgb, place.Value.x, place.Value.y, look.Value.size, window, moves, Sounding: true));

            int distractors = rng.Next(_o.MaxDistractors + 1);
            for (int d = 0; d < distractors; d++)
            {
                var other = _classes[(label + 1 + rng.Next(_classes.Count - 1)) % _classes.Count];
                double size = Size(rng);
                var (x, y) = Place(rng, size, taken);
                taken.Add((x, y, size));
                var silentMoves = rng.Chance(0.75) ? new List<TimeSpanSec> { RandomInterval(rng, window) } : [];
                sprites.Add(new ToySprite(other.Shape, other.Motion, rng.Colour(0.5, 1, 0.6, 1), x, y, size, window, silentMoves, Sounding: false));
            }

            if (rng.Chance(_o.AudioDistractorProbability))
            {
                int other = (label + 1 + rng.Next(_classes.Count - 1)) % _classes.Count;
                double semis = rng.Uniform(-_o.PitchJitterSemitones, _o.PitchJitterSemitones);
                sounds.Add(new ToySound(other, RandomInterval(rng, window), Math.Pow(2, semis / 12), rng.Uniform(0.2, 0.5)));
            }
        }
        return new ToyAvScene(label, _clips * cs, sprites, sounds, backdrops, rng.NextUInt64());
    }

    double Size(ToyRandom rng) => rng.Uniform(_o.ObjectSize[0], _o.ObjectSize[1]);

    TimeSpanSec RandomInterval(ToyRandom rng, TimeSpanSec window)
    {
        double dur = Math.Min(rng.Uniform(_o.EventSeconds[0], _o.EventSeconds[1]), 0.9 * window.Seconds);
        double margin = Math.Min(0.03, (window.Seconds - dur) / 2);
        return new TimeSpanSec(window.Start + rng.Uniform(margin, window.Seconds - dur - margin), dur);
    }

    /// <summary>A centre that keeps the object (and its motion) inside the frame, avoiding objects already placed when it can.</summary>
    (double x, double y) Place(ToyRandom rng, double size, List<(double x, double y, double s)> taken)
    {
        double m = size / 2 + _o.MotionAmplitude;
        double lo = Math.Min(m, 0.5), hi = Math.Max(1 - m, 0.5);
        (double x, double y) best = (0.5, 0.5);
        double bestGap = double.NegativeInfinity;
        for (int tries = 0; tries < 12; tries++)
        {
            double x = rng.Uniform(lo, hi), y = rng.Uniform(lo, hi);
            double gap = taken.Count == 0 ? 1 : taken.Min(o => Math.Max(Math.Abs(o.x - x), Math.Abs(o.y - y)) - (o.s + size) / 2);
            if (gap > bestGap) { best = (x, y); bestGap = gap; }
            if (gap > 0.02) break;
        }
        return best;
    }
}
