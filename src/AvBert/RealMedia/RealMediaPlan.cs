using AvBert.Runtime;
using AvBert.Synthetic;

namespace AvBert.RealMedia;

/// <summary>How the still picture is filmed: zoom (1 = the whole frame) and the centre of the view (0..1 of the free
/// room, left/top to right/bottom) at the first and the last frame, moved linearly in between.</summary>
public sealed record CameraMove(double ZoomFrom, double ZoomTo, double XFrom, double XTo, double YFrom, double YTo);

/// <summary>One video of the set: where it goes, its class, the picture it films, the sound it plays (from
/// <see cref="SoundStart"/> seconds; a sound shorter than the video repeats) and the camera move.</summary>
public sealed record RealMediaVideo(string RelativePath, string Split, string Class, RealMediaAsset Picture, RealMediaAsset Sound,
                                    double SoundStart, CameraMove Move);

/// <summary>
/// The set before any video is written: which split each asset item belongs to and what every video pairs. Deterministic
/// in the seed and the (ordinally sorted) assets. Items are split per stratum — the same mix of picture category and sound
/// kind (e.g. "a farm animal's photo and its sound") — so each pool keeps about <see cref="RealMediaOptions.TestFraction"/>
/// of its items for testing, and a video only pairs assets of its own split: no picture, no sound and no cut of one
/// recording is in both splits.
/// </summary>
public sealed record RealMediaPlan(IReadOnlyDictionary<string, string> SplitOfItem, IReadOnlyList<RealMediaVideo> Videos)
{
    public static readonly IReadOnlyList<string> Splits = ["train", "test"];

    /// <summary>Plans the set from <paramref name="assets"/>; <paramref name="soundSeconds"/> gives a sound's length.</summary>
    public static RealMediaPlan Make(IReadOnlyList<RealMediaAsset> assets, Func<RealMediaAsset, double> soundSeconds, RealMediaOptions options)
    {
        var splitOf = SplitItems(assets, options);
        var videos = new List<RealMediaVideo>();
        var classes = RealMediaCatalog.ClassesOf(options.Pairing);
        for (int s = 0; s < Splits.Count; s++)
        {
            string split = Splits[s];
            int perClass = split == "train" ? options.TrainPerClass : options.TestPerClass;
            for (int c = 0; c < classes.Count; c++)
            {
                var (name, pictureCategory, soundKind) = classes[c];
                var pictures = Pool(assets, splitOf, split, AssetRole.Picture, pictureCategory);
                var sounds = Pool(assets, splitOf, split, AssetRole.Sound, soundKind);
                var rng = new ToyRandom(ToyRandom.Mix(options.Seed, s, c, 0x5EA1));
                var pictureOrder = new List<RealMediaAsset>(pictures);
                var soundOrder = new List<RealMediaAsset>(sounds);
                int nextSound = 0;
                for (int k = 0; k < perClass; k++)
                {
                    if (k % pictureOrder.Count == 0) rng.Shuffle(pictureOrder);
                    var picture = pictureOrder[k % pictureOrder.Count];
                    // A subject's own sound goes with its picture the first time the picture is used (farm animals, instruments).
                    // Its pool holds it only where the class pairs a picture with a sound of the same kind.
                    var own = k < pictureOrder.Count ? sounds.FirstOrDefault(x => x.Item == picture.Item) : null;
                    RealMediaAsset sound;
                    if (own is not null) sound = own;
                    else
                    {
                        if (nextSound % soundOrder.Count == 0) rng.Shuffle(soundOrder);
                        sound = soundOrder[nextSound++ % soundOrder.Count];
                    }
                    double length = soundSeconds(sound);
                    double start = length > options.Seconds ? Math.Round(rng.Uniform(0, length - options.Seconds), 3) : 0;
                    var move = new CameraMove(Math.Round(rng.Uniform(1.0, 1.4), 3), Math.Round(rng.Uniform(1.0, 1.4), 3),
                                              Math.Round(rng.NextDouble(), 3), Math.Round(rng.NextDouble(), 3),
                                              Math.Round(rng.NextDouble(), 3), Math.Round(rng.NextDouble(), 3));
                    videos.Add(new RealMediaVideo($"{split}/{name}/{split}-{k:D4}.mp4", split, name, picture, sound, start, move));
                }
            }
        }
        return new RealMediaPlan(splitOf, videos);
    }

    /// <summary>The assets of one split, role and category; a <see cref="UserError"/> when there are none (too few assets).</summary>
    static List<RealMediaAsset> Pool(IReadOnlyList<RealMediaAsset> assets, IReadOnlyDictionary<string, string> splitOf, string split,
                                     AssetRole role, string category)
    {
        var pool = assets.Where(a => a.Role == role && a.Category == category && splitOf[a.Item] == split).ToList();
        if (pool.Count == 0)
        {
            int all = assets.Count(a => a.Role == role && a.Category == category);
            throw new UserError($"real media: no {category} {(role == AssetRole.Picture ? "pictures" : "sounds")} for the {split} split " +
                                $"({all} in the asset folder; each split needs items of its own). Fix: unpack the packages again " +
                                $"(delete the asset folder) or use an asset folder with at least two {category} items.");
        }
        return pool;
    }

    /// <summary>Each item's split: per stratum (the sorted set of role:category of the item's files), items in ordinal
    /// order, shuffled with the seed; the first round(n × TestFraction) go to test (at least one, and one left for training,
    /// when the stratum has two or more).</summary>
    static Dictionary<string, string> SplitItems(IReadOnlyList<RealMediaAsset> assets, RealMediaOptions options)
    {
        var split = new Dictionary<string, string>(StringComparer.Ordinal);
        var strata = assets.GroupBy(a => a.Item, StringComparer.Ordinal)
            .Select(g => (Item: g.Key, Stratum: string.Join(",", g.Select(a => $"{a.Role}:{a.Category}").Distinct().Order(StringComparer.Ordinal))))
            .GroupBy(x => x.Stratum, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal);
        foreach (var stratum in strata)
        {
            var items = stratum.Select(x => x.Item).Order(StringComparer.Ordinal).ToList();
            var rng = new ToyRandom(ToyRandom.Mix(options.Seed, StableHash(stratum.Key)));
            rng.Shuffle(items);
            int test = items.Count < 2 ? 0 : Math.Clamp((int)Math.Round(items.Count * options.TestFraction), 1, items.Count - 1);
            for (int i = 0; i < items.Count; i++) split[items[i]] = i < test ? "test" : "train";
        }
        return split;
    }

    /// <summary>A hash of <paramref name="text"/> that is the same in every process (string.GetHashCode is not).</summary>
    static long StableHash(string text)
    {
        ulong h = SplitMix64.Gamma;
        foreach (char ch in text) h = SplitMix64.Mix(h ^ ch);
        return (long)h;
    }
}
