using System.Security.Cryptography;
using System.Text.Json;
using AvBert.Media;
using AvBert.Runtime;
using AvBert.Storage;

namespace AvBert.RealMedia;

/// <summary>A Debian package the assets come from: its version and .deb file as downloaded (recorded by
/// <see cref="RealMediaPackages.Unpack"/> in the asset folder's <see cref="RealMediaPackages.ListFile"/>).</summary>
public sealed record DebianPackage(string Name, string Version, string Deb, string Sha256);

/// <summary>The step from Debian's archive to an asset folder could not be done (no network, apt or dpkg failing).</summary>
public sealed class RealMediaFetchError(string message, Exception? inner = null) : UserError(message, inner);

/// <summary>
/// Step (a) of the real-media set: brings the packages of <see cref="RealMediaCatalog.Packages"/> from Debian's archive
/// into an asset folder. Each .deb is fetched with <c>apt-get download</c> into a download folder (kept: a second build
/// downloads nothing), unpacked with <c>dpkg-deb -x</c> into ASSETS/PACKAGE/, and GCompris' Qt resource archives are
/// expanded beside themselves (ASSETS/gcompris-qt-data/usr/share/gcompris-qt/rcc/NAME/...). Nothing is installed.
/// Step (b), composing videos, reads only the asset folder (<see cref="RealMediaComposer"/>).
/// </summary>
public static class RealMediaPackages
{
    /// <summary>The asset folder's list of the packages in it (name, version, .deb file, SHA-256).</summary>
    public const string ListFile = "packages.json";

    static readonly TimeSpan AptTimeout = TimeSpan.FromMinutes(10);
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Fetches (into <paramref name="downloads"/>) and unpacks (into <paramref name="assetDir"/>, which appears
    /// whole: written beside it, then renamed) the packages; returns what <see cref="ListFile"/> records.</summary>
    public static IReadOnlyList<DebianPackage> Unpack(string downloads, string assetDir, TextWriter log, CancellationToken ct = default)
    {
        if (Directory.Exists(assetDir)) return ReadList(assetDir);
        Directory.CreateDirectory(downloads);
        var partial = $"{assetDir}.partial-{Environment.ProcessId}";
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial);
        var packages = new List<DebianPackage>();
        foreach (var name in RealMediaCatalog.Packages)
        {
            var deb = Download(name, downloads, log, ct);
            var version = Field(deb, "Version", ct);
            log.WriteLine($"real media: unpacking {Path.GetFileName(deb)}");
            Run("dpkg-deb", ["-x", deb, Path.Combine(partial, name)], ct, "unpack " + Path.GetFileName(deb));
            packages.Add(new DebianPackage(name, version, Path.GetFileName(deb), Sha256(deb)));
        }
        ExpandArchives(Path.Combine(partial, "gcompris-qt-data", RealMediaCatalog.GcomprisArchives), RealMediaCatalog.GcomprisActivities);
        AtomicFile.WriteAllText(Path.Combine(partial, ListFile), JsonSerializer.Serialize(packages, Json) + "\n");
        try { Directory.Move(partial, assetDir); }
        catch (IOException) when (Directory.Exists(assetDir)) { Directory.Delete(partial, recursive: true); } // another job was first
        return ReadList(assetDir);
    }

    /// <summary>The packages an asset folder holds, as its <see cref="ListFile"/> records them (none when it has no list).</summary>
    public static IReadOnlyList<DebianPackage> ReadList(string assetDir)
    {
        var path = Path.Combine(assetDir, ListFile);
        if (!File.Exists(path)) return [];
        try { return JsonSerializer.Deserialize<List<DebianPackage>>(File.ReadAllText(path), Json) ?? []; }
        catch (JsonException e) { throw new UserError($"{path}: not a package list ({e.Message}). Fix: delete {assetDir} and build again.", e); }
    }

    /// <summary>Expands the Qt resource archives NAME.rcc of <paramref name="dir"/> into folders NAME/ beside them.</summary>
    public static void ExpandArchives(string dir, IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            var archive = Path.Combine(dir, name + ".rcc");
            if (!File.Exists(archive)) throw new RealMediaFetchError($"real media: {archive} is missing from the unpacked package. Fix: delete the download and asset folders and build again.");
            foreach (var entry in QtResourceArchive.Read(archive))
            {
                var target = Path.GetFullPath(Path.Combine(dir, name, entry.Path));
                if (!target.StartsWith(Path.GetFullPath(Path.Combine(dir, name)) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    throw new RealMediaFetchError($"real media: {archive} names a file outside its folder ({entry.Path}): refused.");
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                // A plain write, not AtomicFile: the whole folder is a partial one, renamed into place once complete.
                File.WriteAllBytes(target, entry.Content);
            }
        }
    }

    /// <summary>The licences a Debian copyright file (usr/share/doc/PACKAGE/copyright) names in its License: fields,
    /// distinct, in ordinal order.</summary>
    public static IReadOnlyList<string> Licences(string copyrightFile) =>
        File.Exists(copyrightFile)
            ? File.ReadLines(copyrightFile).Where(l => l.StartsWith("License:", StringComparison.Ordinal))
                  .Select(l => l["License:".Length..].Trim()).Where(l => l.Length > 0).Distinct().Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>The .deb of <paramref name="name"/> in <paramref name="downloads"/>, fetched with apt-get download when absent.</summary>
    static string Download(string name, string downloads, TextWriter log, CancellationToken ct)
    {
        string? Existing() => Directory.EnumerateFiles(downloads, $"{name}_*.deb").Order(StringComparer.Ordinal).LastOrDefault();
        if (Existing() is { } deb) return deb;
        log.WriteLine($"real media: apt-get download {name} (into {downloads})");
        Run("apt-get", ["download", name], ct, $"download {name}", downloads,
            $"Fix: check that this machine reaches Debian's archive (apt-get update; a network or proxy problem), that {name} is in its sources, or build from an unpacked asset folder with --assets DIR.");
        return Existing() ?? throw new RealMediaFetchError($"real media: apt-get download {name} wrote no {name}_*.deb into {downloads}. Fix: run it by hand there to see why.");
    }

    static string Field(string deb, string field, CancellationToken ct) => Run("dpkg-deb", ["-f", deb, field], ct, $"read {field} of {Path.GetFileName(deb)}").Trim();

    static string Sha256(string file)
    {
        using var fs = File.OpenRead(file);
        return Convert.ToHexString(SHA256.HashData(fs)).ToLowerInvariant();
    }

    /// <summary>Runs <paramref name="program"/> and returns its stdout; a <see cref="RealMediaFetchError"/> naming what failed
    /// and <paramref name="fix"/> when it cannot start or exits non-zero.</summary>
    static string Run(string program, IReadOnlyList<string> args, CancellationToken ct, string what, string? workingDirectory = null, string? fix = null)
    {
        fix ??= $"Fix: make sure {program} works here (Debian/Ubuntu, apt and dpkg installed), or build from an unpacked asset folder with --assets DIR.";
        FfmpegResult r;
        try { r = FfmpegProcess.Run(program, args, what, AptTimeout, ct, addressSpaceLimit: 0, workingDirectory: workingDirectory); }
        catch (FfmpegMissingError e) { throw new RealMediaFetchError($"real media: cannot run {program} to {what}. {fix}", e); }
        catch (MediaError e) { throw new RealMediaFetchError($"real media: {program} could not {what}: {e.Message}. {fix}", e); }
        if (r.ExitCode != 0)
        {
            var detail = r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                                .FirstOrDefault(l => l.StartsWith("E:", StringComparison.Ordinal)) ?? MediaError.OneLine(r.Error.Trim());
            var full = $"real media: {program} could not {what} ({(detail.Length > 0 ? detail : $"exit code {r.ExitCode}")}). {fix}";
            if (r.Error.Contains("No space left on device", StringComparison.Ordinal))
                throw new DiskFullError($"real media: the disk is full while trying to {what}. Fix: free space on the disk of {workingDirectory ?? "the cache folder"} and build again.");
            throw new RealMediaFetchError(full);
        }
        return System.Text.Encoding.UTF8.GetString(r.Output, 0, r.Length);
    }
}
