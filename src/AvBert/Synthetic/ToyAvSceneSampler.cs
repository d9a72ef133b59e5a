namespace AvBert.Synthetic;

public enum ToyAvSplit { Train, Test }

/// <summary>
/// Draws toy-av scenes. A video is <c>clips</c> windows of <c>clipSeconds</c> each, laid end to end (so the clip sampler of
/// real videos picks exactly these windows). The labelled object (the class's colour) is on screen throughout and, in most
/// windows, has one event: it moves with its class's motion and, at the same moment, a sound with its class's pitch contour
/// plays. Distractor objects in other classes' colours stay on screen too and move silently at random times. Shapes,
/// positions, sizes, the background, base pitch and timbre are nuisances (redrawn per window with
/// <see cref="ToyAvOptions.PerClipNuisance"/>, per sound always).
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
        double cs = _clipSeconds;

        var hasEvent = new bool[_clips];
        for (int t = 0; t < _clips; t++) hasEvent[t] = rng.Chance(_o.EventProbability);
        if (!hasEvent.Any(e => e)) hasEvent[rng.Next(_clips)] = true;

        // The objects of this video: the sounding one (the label's colour) and distractors of other classes' colours.
        var others = Enumerable.Range(0, _classes.Count).Where(k => k != label).ToList();
        rng.Shuffle(others);
        var identities = new List<int> { label };
        identities.AddRange(others.Take(Math.Min(_o.Distractors, others.Count)));
        var offscreen = others.Skip(identities.Count - 1).Take(_o.OffscreenSounds).ToList();
        var colours = identities.Select(k => ObjectColour(rng, _classes[k].Hue)).ToList();

        var sprites = new List<ToySprite>();
        var sounds = new List<ToySound>();
        var backdrops = new List<ToyBackdrop>();
        ToyBackdrop? backdrop = null;
        var looks = new (ToyShape shape, double size, double x, double y)[identities.Count];
        for (int t = 0; t < _clips; t++)
        {
            var window = new TimeSpanSec(t * cs, cs);
            bool redraw = _o.PerClipNuisance || t == 0;
            backdrop = redraw || backdrop is null
                ? new ToyBackdrop(window, Background(rng), Background(rng), rng.Uniform(0, 2 * Math.PI),
                                  rng.Uniform(0, _o.PixelNoise), rng.Uniform(0.1 * _o.AudioNoise, _o.AudioNoise))
                : backdrop with { When = window };
            backdrops.Add(backdrop);

            if (!_o.PersistentDistractors && t > 0)
            {
                // New distractors for this window: other classes' colours, drawn afresh.
                rng.Shuffle(others);
                for (int i = 1; i < identities.Count; i++)
                {
                    identities[i] = others[i - 1];
                    colours[i] = ObjectColour(rng, _classes[identities[i]].Hue);
                }
            }
            if (redraw)
            {
                var taken = new List<(double x, double y, double s)>();
                for (int i = 0; i < identities.Count; i++)
                {
                    var shape = (ToyShape)rng.Next(Enum.GetValues<ToyShape>().Length);
                    double size = rng.Uniform(_o.ObjectSize[0], _o.ObjectSize[1]);
                    var (x, y) = Place(rng, size, taken);
                    taken.Add((x, y, size));
                    looks[i] = (shape, size, x, y);
                }
            }

            for (int i = 0; i < identities.Count; i++)
            {
                var cls = _classes[identities[i]];
                var moves = new List<TimeSpanSec>();
                bool sounding = i == 0;
                if (sounding && hasEvent[t])
                {
                    var when = RandomInterval(rng, window);
                    moves.Add(when);
                    sounds.Add(new ToySound(label, when, Pitch(rng, label), 1 + rng.Next(_o.MaxHarmonics), rng.Uniform(0.35, 0.8)));
                }
                else if (!sounding && rng.Chance(_o.DistractorMoveProbability))
                    moves.Add(RandomInterval(rng, window));
                var (shape, size, x, y) = looks[i];
                sprites.Add(new ToySprite(shape, cls.Motion, colours[i], x, y, size, window, moves, sounding));
            }

            foreach (var other in offscreen)
                if (rng.Chance(_o.OffscreenSoundProbability))
                    sounds.Add(new ToySound(other, RandomInterval(rng, window), Pitch(rng, other), 1 + rng.Next(_o.MaxHarmonics), rng.Uniform(0.35, 0.8)));
        }
        return new ToyAvScene(label, _clips * cs, sprites, sounds, backdrops, rng.NextUInt64());
    }

    float[] Background(ToyRandom rng)
    {
        var random = rng.Colour(0, 0.25, 0.05, 0.5);
        float v = (float)_o.BackgroundVariation;
        return random.Select(c => 0.2f * (1 - v) + c * v).ToArray();
    }

    float[] ObjectColour(ToyRandom rng, double hue)
    {
        double h = hue + rng.Uniform(-_o.HueJitter, _o.HueJitter);
        return ToyRandom.Hsv(h - Math.Floor(h), rng.Uniform(0.75, 1), rng.Uniform(0.75, 1));
    }

    double Pitch(ToyRandom rng, int cls) => _classes[cls].PitchHz * Math.Pow(2, rng.Uniform(-_o.PitchJitterSemitones, _o.PitchJitterSemitones) / 12);

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
