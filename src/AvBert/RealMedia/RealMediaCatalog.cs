using System.Text.RegularExpressions;

namespace AvBert.RealMedia;

/// <summary>Whether an asset is shown or heard.</summary>
public enum AssetRole { Picture, Sound }

/// <summary>
/// One picture or sound file of an unpacked package. <see cref="Category"/> is what it shows or the kind of sound;
/// <see cref="Item"/> names its subject: files of one item (a cow's photo and its moo, the six cuts of one factory
/// recording) always land in the same split, so no near-duplicate straddles train and test.
/// </summary>
public sealed record RealMediaAsset(string Package, string RelativePath, AssetRole Role, string Category, string Item)
{
    /// <summary>The asset's path inside the asset folder (PACKAGE/usr/share/...), with '/' separators.</summary>
    public string Id => $"{Package}/{RelativePath}";
}

/// <summary>
/// A folder of an unpacked package whose files matching <see cref="FilePattern"/> are pictures (images) of
/// <see cref="PictureCategory"/> or sounds of <see cref="SoundKind"/>. With <see cref="NumberedAreOneItem"/>, files whose
/// names differ only in digits (cuts of one recording: <c>LRFactory_noise_01_LA.ogg</c> … <c>_06_</c>) are one item.
/// </summary>
public sealed record RealMediaSourceFolder(string Package, string Folder, string FilePattern, string? PictureCategory, string? SoundKind,
                                           bool NumberedAreOneItem = false);

/// <summary>
/// The data set's design: which packages it is made from, which folders of them hold which pictures and sounds, and the
/// classes of each <see cref="RealMediaPairing"/>. Matched (the default): what the picture shows and the kind of sound
/// belong together (an animal with an animal's voice, a musical picture with music, an object with an everyday noise).
/// Crossed: a class is (what the picture shows) × (what kind of sound plays), so the picture alone tells one factor, the
/// sound alone the other, and only both tell the class. Where a subject has both (GCompris' farm animals, instruments and
/// world-music pictures) and picture and sound belong together, its own sound is used first.
/// </summary>
public static class RealMediaCatalog
{
    /// <summary>Debian packages the assets come from (fetched with apt-get download, unpacked with dpkg-deb -x).</summary>
    public static readonly IReadOnlyList<string> Packages = ["gcompris-qt-data"];

    /// <summary>What pictures show: the columns of the class grid.</summary>
    public static readonly IReadOnlyList<string> PictureCategories = ["animal", "music", "object"];

    /// <summary>Kinds of sound: the rows of the class grid.</summary>
    public static readonly IReadOnlyList<string> SoundKinds = ["animal", "music", "noise"];

    /// <summary>The class of a picture category and a sound kind: its folder name.</summary>
    public static string ClassName(string pictureCategory, string soundKind) => $"see-{pictureCategory}_hear-{soundKind}";

    /// <summary>The matched classes: each picture category with the kind of sound that belongs to it, named by both.</summary>
    static readonly IReadOnlyList<(string Name, string Picture, string Sound)> Matched =
        [("animal", "animal", "animal"), ("music", "music", "music"), ("object-noise", "object", "noise")];

    /// <summary>Every class of <paramref name="pairing"/> with its picture category and sound kind, in ordinal order of the
    /// names (the label order of classes:DIR).</summary>
    public static IReadOnlyList<(string Name, string Picture, string Sound)> ClassesOf(RealMediaPairing pairing) =>
        (pairing == RealMediaPairing.Crossed ? PictureCategories.SelectMany(p => SoundKinds.Select(s => (ClassName(p, s), p, s))) : Matched)
        .OrderBy(c => c.Item1, StringComparer.Ordinal).ToList();

    /// <summary>GCompris ships each activity's files in a Qt resource archive; these are expanded (see
    /// <see cref="RealMediaPackages"/>) into a folder of the same name beside the archive.</summary>
    public const string GcomprisArchives = "usr/share/gcompris-qt/rcc";

    /// <summary>The archives of <see cref="GcomprisArchives"/> the folders below come from.</summary>
    public static readonly IReadOnlyList<string> GcomprisActivities =
        ["explore_farm_animals", "explore_world_animals", "categorization", "instruments", "explore_world_music", "memory-sound", "melody", "canal_lock", "watercycle"];

    static string Activity(string name, string sub) => $"{GcomprisArchives}/{name}/gcompris/src/activities/{name}/resource{sub}";

    const string Gcompris = "gcompris-qt-data";

    /// <summary>The folders assets are taken from. Left out on purpose: drawings of the farm animals (their photos are
    /// used), the synthetic "Weird" and pause sounds of memory-sound, and the gong and knock (neither music nor noise).</summary>
    public static readonly IReadOnlyList<RealMediaSourceFolder> Folders =
    [
        new(Gcompris, Activity("explore_farm_animals", "/animals"), @"\.webp$", "animal", null),
        new(Gcompris, Activity("explore_farm_animals", "/animals"), @"\.ogg$", null, "animal"),
        new(Gcompris, Activity("explore_world_animals", "/animals"), @"\.webp$", "animal", null),
        new(Gcompris, Activity("categorization", "/images/fishes"), @"\.webp$", "animal", null),
        new(Gcompris, Activity("memory-sound", ""), @"^LR(Bark_\d+_LA_cut|FrogsInPondDuringStormLACut)\.ogg$", null, "animal", NumberedAreOneItem: true),
        new(Gcompris, Activity("instruments", ""), @"^(?!background\.|instruments\.).*\.svg$", "music", null),
        new(Gcompris, Activity("instruments", ""), @"\.ogg$", null, "music"),
        new(Gcompris, Activity("explore_world_music", "/music"), @"\.webp$", "music", null),
        new(Gcompris, Activity("explore_world_music", "/music"), @"\.ogg$", null, "music"),
        new(Gcompris, Activity("memory-sound", ""), @"^guitar_.*\.ogg$", null, "music", NumberedAreOneItem: true),
        new(Gcompris, Activity("melody", ""), @"^xylofon_son\d+\.wav$", null, "music", NumberedAreOneItem: true),
        new(Gcompris, Activity("categorization", "/images/tools"), @"\.webp$", "object", null),
        new(Gcompris, Activity("categorization", "/images/others"), @"\.webp$", "object", null),
        new(Gcompris, Activity("memory-sound", ""),
            @"^LR(Applauses|Door_Open|Factory_noise|Fireballs|Heart_beat|Hits|Object_falling|Rain_in_garden|Ring|StartAndStopCarEngine|Train_slowing_down).*\.ogg$",
            null, "noise", NumberedAreOneItem: true),
        new(Gcompris, Activity("canal_lock", ""), @"\.wav$", null, "noise"),
        new(Gcompris, Activity("watercycle", ""), @"\.wav$", null, "noise", NumberedAreOneItem: true),
    ];

    /// <summary>
    /// The assets of <see cref="Folders"/> found under <paramref name="assetDir"/> (one folder per package, as unpacked), in
    /// ordinal order of their ids. An item is PACKAGE/FOLDER/NAME (file name without extension, digits dropped where the
    /// folder groups numbered cuts), so a farm animal's photo and sound share one.
    /// </summary>
    public static IReadOnlyList<RealMediaAsset> Find(string assetDir, IReadOnlyList<RealMediaSourceFolder>? folders = null)
    {
        var assets = new List<RealMediaAsset>();
        foreach (var f in folders ?? Folders)
        {
            var dir = Path.Combine(assetDir, f.Package, f.Folder);
            if (!Directory.Exists(dir)) continue;
            var pattern = new Regex(f.FilePattern, RegexOptions.CultureInvariant);
            foreach (var file in Directory.EnumerateFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal))
            {
                if (file is null || !pattern.IsMatch(file)) continue;
                var ext = Path.GetExtension(file).ToLowerInvariant();
                AssetRole? role = ext is ".webp" or ".png" or ".jpg" or ".jpeg" or ".svg" ? AssetRole.Picture
                                : ext is ".ogg" or ".wav" or ".flac" or ".mp3" or ".oga" ? AssetRole.Sound : null;
                var category = role == AssetRole.Picture ? f.PictureCategory : role == AssetRole.Sound ? f.SoundKind : null;
                if (role is null || category is null) continue;
                var stem = Path.GetFileNameWithoutExtension(file);
                if (f.NumberedAreOneItem) stem = Regex.Replace(stem, @"\d+", "#");
                assets.Add(new RealMediaAsset(f.Package, $"{f.Folder}/{file}", role.Value, category, $"{f.Package}/{f.Folder}/{stem}"));
            }
        }
        return assets.DistinctBy(a => a.Id).OrderBy(a => a.Id, StringComparer.Ordinal).ToList();
    }
}
