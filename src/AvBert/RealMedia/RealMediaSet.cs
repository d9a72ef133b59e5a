using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AvBert.Runtime;
using AvBert.Storage;

namespace AvBert.RealMedia;

/// <summary>
/// The data spec <c>real</c> (or <c>real:KEY=VALUE,...</c> with keys pairing (matched or crossed), seed, train, test,
/// seconds: videos per class and split, seconds per video): the real-media set, built once on first use and cached under ~/.cache/avbert/real-media/:
/// <c>debs/</c> the downloaded packages, <c>assets-*/</c> them unpacked, <c>set-*/</c> the videos (keyed by the options,
/// the catalogue and <see cref="RealMediaComposer.FormatVersion"/>). Each folder appears whole (written beside it, then
/// renamed), so concurrent jobs share it safely.
/// </summary>
public static class RealMediaSet
{
    public const string SpecName = "real";
    static readonly string[] Keys = ["pairing", "seed", "train", "test", "seconds"];

    /// <summary>Whether <paramref name="spec"/> names the real-media set; its options when it does (a <see cref="UserError"/>
    /// for a malformed one).</summary>
    public static bool IsSpec(string spec, out RealMediaOptions options)
    {
        options = new RealMediaOptions();
        if (spec == SpecName) return true;
        if (!spec.StartsWith(SpecName + ":", StringComparison.Ordinal)) return false;
        foreach (var part in spec[(SpecName.Length + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
            string key = kv[0];
            if (key == "pairing")
            {
                options = options with
                {
                    Pairing = kv.Length == 2 && Enum.TryParse<RealMediaPairing>(kv[1], ignoreCase: true, out var pairing) && Enum.IsDefined(pairing) && !char.IsDigit(kv[1][0])
                        ? pairing
                        : throw new UserError($"--data {spec}: '{part}': the pairing is matched (picture and sound belong together, the default) or crossed (picture kind x sound kind)."),
                };
                continue;
            }
            bool number = double.TryParse(kv.Length == 2 ? kv[1] : "", NumberStyles.Float, CultureInfo.InvariantCulture, out var v);
            bool whole = number && v == Math.Floor(v) && Math.Abs(v) < int.MaxValue;
            if (!Keys.Contains(key) || !number || (key != "seconds" && !whole))
                throw new UserError($"--data {spec}: '{part}' is not a real-media option. Use real or real:KEY=VALUE,... with keys " +
                                    $"{string.Join(", ", Keys)} (pairing=matched|crossed; the others numbers: whole, seconds may be fractional), e.g. real:train=80,test=20.");
            options = key switch
            {
                "seed" => options with { Seed = (int)v },
                "train" => options with { TrainVideosPerClass = (int)v },
                "test" => options with { TestVideosPerClass = (int)v },
                _ => options with { Seconds = v },
            };
        }
        options.Validated();
        return true;
    }

    /// <summary>The cache folder of the real-media data (~/.cache/avbert/real-media).</summary>
    public static string CacheRoot => UserCache.Directory("real-media") ?? Path.Combine(Path.GetTempPath(), "avbert-real-media");

    /// <summary>
    /// The folder holding the set of <paramref name="options"/> (DIR/{train,test}/CLASS/*.mp4, manifest.json), built on first
    /// use: from <paramref name="assetDir"/> when given (an unpacked asset folder), else from the packages fetched from Debian's
    /// archive. <paramref name="outDir"/>, when given (a new or empty folder), is built instead of the cache folder.
    /// </summary>
    public static string Folder(RealMediaOptions options, TextWriter? log = null, string? assetDir = null, string? outDir = null,
                                Action<RealMediaVideo>? written = null, CancellationToken ct = default)
    {
        log ??= Console.Out;
        options.Validated();
        try
        {
            var dir = outDir ?? Path.Combine(CacheRoot, $"set-{Key(options, assetDir)}");
            if (outDir is null && Directory.Exists(dir)) return dir;
            if (outDir is not null && Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
                throw new UserError($"real media: --out {outDir} exists and is not empty. Fix: name a new folder, or delete that one first.");
            if (outDir is not null && Directory.Exists(outDir)) Directory.Delete(outDir);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(dir))!);
            if (assetDir is null)
            {
                assetDir = Path.Combine(CacheRoot, $"assets-{PackagesKey}");
                RealMediaPackages.Unpack(Path.Combine(CacheRoot, "debs"), assetDir, log, ct);
            }
            var partial = $"{Path.GetFullPath(dir).TrimEnd('/')}.partial-{Environment.ProcessId}";
            if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
            var total = options.TotalVideos;
            log.WriteLine($"real media: composing {total} videos (once, with FFmpeg) into {dir}");
            RealMediaComposer.Compose(assetDir, partial, options, written, ct);
            try { Directory.Move(partial, dir); }
            catch (IOException) when (Directory.Exists(dir)) { Directory.Delete(partial, recursive: true); } // another job was first
            return dir;
        }
        catch (IOException e) when (AtomicFile.IsDiskFull(e)) { throw AtomicFile.DiskFull(outDir ?? CacheRoot, e); }
    }

    /// <summary>The packages' part of the cache key (their names: a new package list is a new asset folder).</summary>
    static string PackagesKey => Hash(string.Join(",", RealMediaCatalog.Packages) + "/" + string.Join(",", RealMediaCatalog.GcomprisActivities));

    static string Key(RealMediaOptions options, string? assetDir) =>
        Hash($"{RealMediaComposer.FormatVersion}/{JsonSerializer.Serialize(options)}/{JsonSerializer.Serialize(RealMediaCatalog.Folders)}/" +
             $"{(assetDir is null ? PackagesKey : Path.GetFullPath(assetDir))}");

    static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16].ToLowerInvariant();
}
