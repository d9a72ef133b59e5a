using System.Globalization;
using System.Text;
using System.Text.Json;
using AvBert.Media;
using AvBert.Runtime;
using AvBert.Storage;

namespace AvBert.RealMedia;

/// <summary>A source package as the manifest lists it: version, .deb, and the licences its Debian copyright file names.</summary>
public sealed record ManifestPackage(string Name, string Version, string Deb, string Sha256, IReadOnlyList<string> Licences, string Copyright);

/// <summary>A class: its picture category and sound kind, and its videos per split.</summary>
public sealed record ManifestClass(string Name, string Picture, string Sound, int Train, int Test);

/// <summary>A source asset: where it is in its package, what it is, its split and its own credit where the package gives one.</summary>
public sealed record ManifestAsset(string Id, string Role, string Category, string Item, string Split, int Videos, AssetCredit? Credit);

/// <summary>A video: its file, class and split, and what it is made of.</summary>
public sealed record ManifestVideo(string Path, string Split, string Class, string Picture, string Sound, double SoundStart, CameraMove Move);

/// <summary>What <c>manifest.json</c> of a real-media folder holds.</summary>
public sealed record RealMediaManifest(int FormatVersion, string Design, RealMediaOptions Options, IReadOnlyList<ManifestPackage> Packages,
                                       IReadOnlyList<ManifestClass> Classes, IReadOnlyList<ManifestAsset> Assets, IReadOnlyList<ManifestVideo> Videos)
{
    public const string FileName = "manifest.json";
    public const string MarkdownFileName = "MANIFEST.md";

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Reads DIR/manifest.json.</summary>
    public static RealMediaManifest Read(string dir)
    {
        var path = Path.Combine(dir, FileName);
        try { return JsonSerializer.Deserialize<RealMediaManifest>(File.ReadAllText(path), Json) ?? throw new JsonException("empty"); }
        catch (Exception e) when (e is JsonException or IOException)
        { throw new UserError($"{path}: cannot read the real-media manifest ({e.Message}). Fix: delete {dir} and build it again.", e); }
    }
}

/// <summary>
/// Step (b) of the real-media set: composes the videos from an asset folder (as <see cref="RealMediaPackages"/> unpacks
/// it, or as a test lays it out) into DIR/{train,test}/CLASS/*.mp4 — read by <c>classes:DIR</c> — with DIR/classes.txt,
/// DIR/manifest.json and DIR/MANIFEST.md. Each video films one still picture with a slow pan and zoom (FFmpeg's zoompan,
/// from the plan's <see cref="CameraMove"/>) and plays one sound (a segment of a longer one, or a shorter one repeated
/// with a 0.4 s pause), resampled to mono; encoded as toy-av is (<see cref="Mp4Encoding"/>), one FFmpeg thread per video.
/// </summary>
public static class RealMediaComposer
{
    /// <summary>Bumped whenever the same assets and options would give different videos (part of the cache key).</summary>
    public const int FormatVersion = 1;

    const double RepeatPause = 0.4;
    /// <summary>Pictures are scaled to this many times the frame before the camera moves over them (sub-pixel-smooth pans).</summary>
    const int Oversample = 3;

    /// <summary>The design of a set of <paramref name="pairing"/>, in words (the manifest's first paragraph).</summary>
    public static string Design(RealMediaPairing pairing) =>
        "Each video films one real picture (a photo or a drawing) with a slow pan and zoom and plays one real recording. " +
        (pairing == RealMediaPairing.Crossed
            ? "Its class is (what the picture shows: animal, music, object) x (what kind of sound plays: animal voice, music, everyday noise), " +
              "3 x 3 = 9 classes named see-PICTURE_hear-SOUND. The picture alone decides one factor and the sound alone the other; only both " +
              "decide the class (sight alone or sound alone: at most 1/3, chance 1/9). On the diagonal picture and sound belong together, and a " +
              "subject that has both (a farm animal's photo and its call, an instrument's picture and its recording) is first paired with its own. "
            : "Picture and sound belong together, and the class is what both are of: animal (an animal's photo, an animal's voice), music " +
              "(an instrument's drawing or musicians' photo, a music recording), object-noise (a tool's or household object's photo, an everyday " +
              "noise); chance 1/3. Sight alone, sound alone or both decide the class. A subject that has both (a farm animal's photo and its " +
              "call, an instrument's picture and its recording, a region's musicians and its music) is first paired with its own. ") +
        "Assets are split by item (a subject's picture and sound, or all cuts of one recording, are one item), stratified per kind of item, " +
        "so no picture, sound or cut of one recording is in both train and test.";

    /// <summary>Composes the set from <paramref name="assetDir"/> into <paramref name="outDir"/> (created; existing files are
    /// replaced). <paramref name="written"/> is called after each video. Returns the manifest written.</summary>
    public static RealMediaManifest Compose(string assetDir, string outDir, RealMediaOptions options, Action<RealMediaVideo>? written = null,
                                           CancellationToken ct = default, int workers = 0)
    {
        options.Validated();
        var assets = RealMediaCatalog.Find(assetDir);
        if (assets.Count == 0)
            throw new UserError($"real media: {assetDir} holds none of the pictures and sounds the set is made of (expected e.g. " +
                                $"{RealMediaCatalog.Folders[0].Package}/{RealMediaCatalog.Folders[0].Folder}/). Fix: unpack the packages there again (delete it and build).");
        var lengths = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var sound in assets.Where(a => a.Role == AssetRole.Sound))
        {
            ct.ThrowIfCancellationRequested();
            var path = PathOf(assetDir, sound);
            lengths[sound.Id] = MediaProbe.Probe(path, ct) is { Audio: not null } info && info.DurationSeconds > 0
                ? info.DurationSeconds
                : throw new UserError($"real media: {path} has no audio FFmpeg can read. Fix: unpack the packages again (delete the asset folder).");
        }
        var plan = RealMediaPlan.Make(assets, a => lengths[a.Id], options);

        Directory.CreateDirectory(outDir);
        string codec = Mp4Encoding.VideoCodec;
        int parallel = workers > 0 ? workers : Math.Clamp(Environment.ProcessorCount, 1, 4);
        Parallel.ForEach(plan.Videos, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = ct }, video =>
        {
            WriteVideo(assetDir, Path.Combine(outDir, video.RelativePath), video, lengths[video.Sound.Id], options, codec, ct);
            written?.Invoke(video);
        });

        var manifest = Manifest(assetDir, assets, plan, options);
        WriteText(Path.Combine(outDir, "classes.txt"), string.Concat(RealMediaCatalog.ClassesOf(options.Pairing).Select(c => c.Name + "\n")));
        WriteText(Path.Combine(outDir, RealMediaManifest.FileName), JsonSerializer.Serialize(manifest, RealMediaManifest.Json) + "\n");
        WriteText(Path.Combine(outDir, RealMediaManifest.MarkdownFileName), Markdown(manifest));
        return manifest;
    }

    static string PathOf(string assetDir, RealMediaAsset a) => Path.Combine(assetDir, a.Package, a.RelativePath);

    static void WriteText(string path, string text)
    {
        try { AtomicFile.WriteAllText(path, text); }
        catch (IOException e) when (AtomicFile.IsDiskFull(e)) { throw AtomicFile.DiskFull(path, e); }
    }

    /// <summary>Films <paramref name="video"/>'s picture and lays its sound under it: one FFmpeg run, written atomically.</summary>
    static void WriteVideo(string assetDir, string path, RealMediaVideo video, double length, RealMediaOptions o, string codec, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        string F(double x) => x.ToString("0.######", inv);
        int frames = (int)Math.Round(o.Seconds * o.Fps), last = Math.Max(1, frames - 1);
        int w = o.Width * Oversample, h = o.Height * Oversample;
        var m = video.Move;
        string t = $"on/{last}";
        // A drawing (SVG, transparent) is fitted whole onto white; a photo fills the frame (cropped to its aspect).
        string still = Path.GetExtension(video.Picture.RelativePath).Equals(".svg", StringComparison.OrdinalIgnoreCase)
            ? $"color=c=white:s={w}x{h}:d=1:r=1[bg];[0:v]scale={w}:{h}:force_original_aspect_ratio=decrease[fg];[bg][fg]overlay=(W-w)/2:(H-h)/2:shortest=1"
            : $"[0:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}";
        string zoom = $"({F(m.ZoomFrom)}+({F(m.ZoomTo - m.ZoomFrom)})*{t})";
        string camera = $"zoompan=z='{zoom}':x='(iw-iw/zoom)*({F(m.XFrom)}+({F(m.XTo - m.XFrom)})*{t})':y='(ih-ih/zoom)*({F(m.YFrom)}+({F(m.YTo - m.YFrom)})*{t})'" +
                        $":d={frames}:s={o.Width}x{o.Height}:fps={o.Fps}";
        string sound = $"[1:a]aresample={o.SampleRate},aformat=sample_fmts=fltp:channel_layouts=mono,";
        sound += length > o.Seconds
            ? $"atrim=start={F(video.SoundStart)}:duration={F(o.Seconds)},asetpts=PTS-STARTPTS"
            : $"apad=pad_dur={F(RepeatPause)},aloop=loop=-1:size={(long)Math.Floor((length + RepeatPause) * o.SampleRate)},atrim=duration={F(o.Seconds)},asetpts=N/SR/TB";
        string graph = $"{still},format=yuv420p,{camera},trim=end_frame={frames}[v];{sound}[a]";
        try
        {
            AtomicFile.WriteVia(path, tmp =>
            {
                List<string> args =
                [
                    "-nostdin", "-hide_banner", "-v", "error", "-y", "-threads", "1",
                    "-i", "file:" + PathOf(assetDir, video.Picture), "-i", "file:" + PathOf(assetDir, video.Sound),
                    "-filter_complex", graph, "-filter_complex_threads", "1", "-map", "[v]", "-map", "[a]",
                    .. Mp4Encoding.VideoArgs(codec), "-threads", "1", .. Mp4Encoding.AudioArgs, "-ar", o.SampleRate.ToString(inv), "-ac", "1",
                    "-frames:v", frames.ToString(inv), "-t", F(o.Seconds), "-map_metadata", "-1", "-fflags", "+bitexact", "-f", "mp4", "file:" + tmp,
                ];
                var r = FfmpegProcess.Run(MediaOptions.Ffmpeg, args, path, MediaOptions.DecodeTimeout, ct, sizeHint: 4096);
                if (r.ExitCode != 0)
                {
                    if (r.Error.Contains("No space left on device", StringComparison.Ordinal)) throw AtomicFile.DiskFull(path, new IOException(r.Error));
                    throw new UserError($"real media: ffmpeg could not make {video.RelativePath} from {video.Picture.Id} and {video.Sound.Id}: " +
                                        $"{MediaError.OneLine(r.Error.Trim())}. Fix: check that FFmpeg reads these files (ffprobe them); unpack the packages again if not.");
                }
            });
        }
        catch (IOException e) when (AtomicFile.IsDiskFull(e)) { throw AtomicFile.DiskFull(path, e); }
    }

    static RealMediaManifest Manifest(string assetDir, IReadOnlyList<RealMediaAsset> assets, RealMediaPlan plan, RealMediaOptions options)
    {
        var packages = RealMediaPackages.ReadList(assetDir).ToDictionary(p => p.Name, StringComparer.Ordinal);
        var used = assets.Select(a => a.Package).Distinct().Order(StringComparer.Ordinal);
        var manifestPackages = used.Select(name =>
        {
            var copyright = $"{name}/usr/share/doc/{name}/copyright";
            var p = packages.GetValueOrDefault(name);
            return new ManifestPackage(name, p?.Version ?? "unknown", p?.Deb ?? "", p?.Sha256 ?? "",
                                       RealMediaPackages.Licences(Path.Combine(assetDir, copyright)), copyright);
        }).ToList();
        var classes = RealMediaCatalog.ClassesOf(options.Pairing).Select(c => new ManifestClass(c.Name, c.Picture, c.Sound,
            plan.Videos.Count(v => v.Class == c.Name && v.Split == "train"), plan.Videos.Count(v => v.Class == c.Name && v.Split == "test"))).ToList();
        var uses = plan.Videos.SelectMany(v => new[] { v.Picture.Id, v.Sound.Id }).GroupBy(x => x, StringComparer.Ordinal)
                       .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var readmes = new Dictionary<string, IReadOnlyDictionary<string, AssetCredit>>(StringComparer.Ordinal);
        var manifestAssets = assets.Select(a =>
        {
            var folder = Path.GetDirectoryName(PathOf(assetDir, a))!;
            if (!readmes.TryGetValue(folder, out var credits)) readmes[folder] = credits = AssetCredits.Read(Path.Combine(folder, "README"));
            return new ManifestAsset(a.Id, a.Role.ToString().ToLowerInvariant(), a.Category, a.Item, plan.SplitOfItem[a.Item],
                                     uses.GetValueOrDefault(a.Id), credits.GetValueOrDefault(Path.GetFileName(a.RelativePath)));
        }).ToList();
        var videos = plan.Videos.Select(v => new ManifestVideo(v.RelativePath, v.Split, v.Class, v.Picture.Id, v.Sound.Id, v.SoundStart, v.Move)).ToList();
        return new RealMediaManifest(FormatVersion, Design(options.Pairing), options, manifestPackages, classes, manifestAssets, videos);
    }

    /// <summary>MANIFEST.md: the design, the packages and licences, the classes and the asset counts, for people.</summary>
    static string Markdown(RealMediaManifest m)
    {
        var sb = new StringBuilder();
        var o = m.Options;
        sb.Append($"# AVBERT.NET real-media set (format {m.FormatVersion}, {o.Pairing.ToString().ToLowerInvariant()} pairing, seed {o.Seed})\n\n{m.Design}\n\n");
        sb.Append($"{m.Videos.Count} videos of {o.Seconds.ToString(CultureInfo.InvariantCulture)} s, {o.Width}x{o.Height} at {o.Fps} fps, " +
                  $"{o.SampleRate} Hz mono (H.264 + AAC in MP4). Read it as `classes:DIR` (DIR/train/CLASS, DIR/test/CLASS).\n\n");
        sb.Append("## Source packages (Debian)\n\n| package | version | licences (debian/copyright) |\n|---|---|---|\n");
        foreach (var p in m.Packages) sb.Append($"| {p.Name} | {p.Version} | {string.Join(", ", p.Licences)} |\n");
        sb.Append("\nThe assets' own licences, as the package credits them file by file (author and source per file: manifest.json, `assets[].credit`):\n\n| licence | assets used |\n|---|---|\n");
        foreach (var g in m.Assets.Where(a => a.Videos > 0).GroupBy(a => a.Credit?.Licence ?? "(not credited file by file: the package's licences apply)")
                                  .OrderBy(g => g.Key, StringComparer.Ordinal))
            sb.Append($"| {g.Key} | {g.Count()} |\n");
        sb.Append('\n');
        sb.Append("## Classes\n\n| class | picture | sound | train | test |\n|---|---|---|---|---|\n");
        foreach (var c in m.Classes) sb.Append($"| {c.Name} | {c.Picture} | {c.Sound} | {c.Train} | {c.Test} |\n");
        sb.Append("\n## Assets per split\n\n| role | category | train | test |\n|---|---|---|---|\n");
        foreach (var g in m.Assets.GroupBy(a => (a.Role, a.Category)).OrderBy(g => g.Key.Role, StringComparer.Ordinal).ThenBy(g => g.Key.Category, StringComparer.Ordinal))
            sb.Append($"| {g.Key.Role} | {g.Key.Category} | {g.Count(a => a.Split == "train")} | {g.Count(a => a.Split == "test")} |\n");
        return sb.ToString();
    }
}
