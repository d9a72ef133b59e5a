using System.Globalization;
using System.Reflection;
using AvBert.Runtime;

namespace AvBert.Synthetic;

/// <summary>
/// Applies "key=value" overrides to <see cref="ToyAvOptions"/> (snake_case keys, e.g. <c>distractors=1</c>,
/// <c>object_size=[0.2,0.3]</c>, <c>per_clip_nuisance=false</c>): the <c>--toy</c> option of `avbert synth` and `avbert demo`.
/// </summary>
public static class ToyAvOptionsParser
{
    static readonly PropertyInfo[] Properties = typeof(ToyAvOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite).ToArray();

    public static string Key(PropertyInfo p) =>
        string.Concat(p.Name.Select((ch, i) => char.IsUpper(ch) && i > 0 ? "_" + char.ToLowerInvariant(ch) : char.ToLowerInvariant(ch).ToString()));

    public static IEnumerable<string> Keys => Properties.Select(Key);

    public static ToyAvOptions Apply(ToyAvOptions options, IEnumerable<string> overrides)
    {
        foreach (var expr in overrides)
        {
            int eq = expr.IndexOf('=');
            if (eq <= 0) throw new UserError($"--toy {expr}: expected key=value, e.g. --toy distractors=1. Keys: {string.Join(", ", Keys)}.");
            var key = expr[..eq].Trim();
            var text = expr[(eq + 1)..].Trim();
            var prop = Properties.FirstOrDefault(p => Key(p) == key)
                       ?? throw new UserError($"--toy {expr}: unknown key '{key}'. Keys: {string.Join(", ", Keys)}.");
            object value;
            try { value = Parse(prop.PropertyType, text); }
            catch (FormatException) { throw new UserError($"--toy {expr}: '{text}' is not a valid {Describe(prop.PropertyType)}."); }
            options = options with { };
            prop.SetValue(options, value);
        }
        Validate(options);
        return options;
    }

    static object Parse(Type t, string s)
    {
        var inv = CultureInfo.InvariantCulture;
        if (t == typeof(int)) return int.Parse(s, inv);
        if (t == typeof(double)) return double.Parse(s, inv);
        if (t == typeof(bool)) return bool.Parse(s);
        if (t == typeof(double[])) return s.Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => double.Parse(x.Trim(), inv)).ToArray();
        throw new FormatException();
    }

    static string Describe(Type t) => t == typeof(int) ? "integer" : t == typeof(double) ? "number" : t == typeof(bool) ? "true/false" : "list like [0.1, 0.2]";

    /// <summary>Checks ranges; each failure names the key, the value and what is valid.</summary>
    public static void Validate(ToyAvOptions o)
    {
        var errors = new List<string>();
        void Check(bool ok, string msg) { if (!ok) errors.Add(msg); }
        Check(o.NumClasses is >= 2 and <= ToyAvClasses.Max, $"num_classes {o.NumClasses}: must be 2..{ToyAvClasses.Max}");
        Check(o.EventProbability is > 0 and <= 1, $"event_probability {o.EventProbability}: must be in (0, 1]");
        Check(o.EventSeconds.Length == 2 && o.EventSeconds[0] > 0 && o.EventSeconds[0] <= o.EventSeconds[1], "event_seconds: must be [min, max] with 0 < min <= max");
        Check(o.Distractors is >= 0 and < ToyAvClasses.Max, $"distractors {o.Distractors}: must be 0..{ToyAvClasses.Max - 1}");
        Check(o.DistractorMoveProbability is >= 0 and <= 1, $"distractor_move_probability {o.DistractorMoveProbability}: must be in [0, 1]");
        Check(o.BackgroundVariation is >= 0 and <= 1, $"background_variation {o.BackgroundVariation}: must be in [0, 1]");
        Check(o.HueJitter is >= 0 and <= 0.5, $"hue_jitter {o.HueJitter}: must be in [0, 0.5]");
        Check(o.PitchJitterSemitones is >= 0 and <= 24, $"pitch_jitter_semitones {o.PitchJitterSemitones}: must be in [0, 24]");
        Check(o.OffscreenSounds >= 0 && o.Distractors + o.OffscreenSounds < o.NumClasses, $"offscreen_sounds {o.OffscreenSounds}: distractors + offscreen_sounds must be below num_classes ({o.NumClasses})");
        Check(o.OffscreenSoundProbability is >= 0 and <= 1, $"offscreen_sound_probability {o.OffscreenSoundProbability}: must be in [0, 1]");
        Check(o.MaxHarmonics is >= 1 and <= 16, $"max_harmonics {o.MaxHarmonics}: must be 1..16");
        Check(o.ObjectSize.Length == 2 && o.ObjectSize[0] > 0 && o.ObjectSize[0] <= o.ObjectSize[1] && o.ObjectSize[1] <= 0.6, "object_size: must be [min, max] with 0 < min <= max <= 0.6");
        Check(o.MotionAmplitude is >= 0 and <= 0.3, $"motion_amplitude {o.MotionAmplitude}: must be in [0, 0.3]");
        Check(o.SoundingGlow is >= 0 and <= 1, $"sounding_glow {o.SoundingGlow}: must be in [0, 1]");
        Check(o.PixelNoise is >= 0 and <= 1, $"pixel_noise {o.PixelNoise}: must be in [0, 1]");
        Check(o.AudioNoise is >= 0 and <= 1, $"audio_noise {o.AudioNoise}: must be in [0, 1]");
        if (errors.Count > 0) throw new UserError("toy-av options: " + string.Join("; ", errors) + ".");
    }
}
