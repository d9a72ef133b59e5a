using System.Globalization;
using AvBert.Data;
using AvBert.Media;
using AvBert.RealMedia;
using AvBert.Data.Sources;

namespace AvBert.Tests.RealMedia;

/// <summary>
/// The real-media set composed from an asset folder the test makes with FFmpeg, laid out like the unpacked
/// gcompris-qt-data (its Qt archives expanded): two farm animals (photo + call), two instruments (drawing + recording),
/// two tool photos, two canal-lock noises and two cuts of one factory recording. No archive, no network.
/// </summary>
public class RealMediaComposerTests
{
    static readonly RealMediaOptions Tiny = new() { TrainVideosPerClass = 2, TestVideosPerClass = 1, Seconds = 1.5, Width = 64, Height = 48, Fps = 10 };

    const string Package = "gcompris-qt-data";

    static string Activity(string name, string sub = "") =>
        Path.Combine(Package, RealMediaCatalog.GcomprisArchives, name, "gcompris/src/activities", name, "resource" + sub);

    /// <summary>Makes the asset folder (once per test class run: FFmpeg is the slow part).</summary>
    static readonly Lazy<string> Assets = new(() =>
    {
        var dir = TestSetup.TempDir("real-media-assets");
        void Picture(string folder, string name, string colour) =>
            TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", $"testsrc2=s=120x90:d=1,drawbox=c={colour}:t=fill:w=40:h=30", "-frames:v", "1",
                           Path.Combine(Directory.CreateDirectory(Path.Combine(dir, folder)).FullName, name)]);
        void Sound(string folder, string name, double hz, double seconds) =>
            TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", $"sine=frequency={hz.ToString(CultureInfo.InvariantCulture)}:sample_rate=22050:duration={seconds.ToString(CultureInfo.InvariantCulture)}",
                           Path.Combine(Directory.CreateDirectory(Path.Combine(dir, folder)).FullName, name)]);
        void Drawing(string folder, string name, string colour) =>
            File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(dir, folder)).FullName, name),
                $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"80\" height=\"60\"><circle cx=\"40\" cy=\"30\" r=\"25\" fill=\"{colour}\"/></svg>");

        var farm = Activity("explore_farm_animals", "/animals");
        Picture(farm, "cow.webp", "brown"); Sound(farm, "cow.ogg", 220, 0.8);
        Picture(farm, "pig.webp", "pink"); Sound(farm, "pig.ogg", 330, 2.5);
        File.WriteAllText(Path.Combine(dir, farm, "README"), "Copyright: A. Farmer\nLicense: CC0-1.0\nSource: https://example.org/cow\nFiles:\ncow.webp\n\nCopyright: B\nLicense: GPLv3\nFiles:\ncow.ogg\npig.ogg\n");
        var instruments = Activity("instruments");
        Drawing(instruments, "violin.svg", "orange"); Sound(instruments, "violin.ogg", 440, 3);
        Drawing(instruments, "drum.svg", "blue"); Sound(instruments, "drum.ogg", 110, 1);
        Drawing(instruments, "background.svg", "black"); // not an instrument: left out by the catalogue
        var tools = Activity("categorization", "/images/tools");
        Picture(tools, "hammer1.webp", "gray"); Picture(tools, "saw.webp", "white");
        var canal = Activity("canal_lock");
        Sound(canal, "door_open.wav", 600, 1.2); Sound(canal, "lock.wav", 700, 0.5);
        var memory = Activity("memory-sound");
        Sound(memory, "LRFactory_noise_01_LA.ogg", 900, 0.6); Sound(memory, "LRFactory_noise_02_LA.ogg", 950, 0.6);
        Sound(memory, "LRWeird_1_LA.ogg", 1200, 0.5); // synthetic: left out by the catalogue
        var doc = Directory.CreateDirectory(Path.Combine(dir, Package, "usr/share/doc", Package)).FullName;
        File.WriteAllText(Path.Combine(doc, "copyright"), "Format: x\n\nFiles: *\nCopyright: 2023 GCompris\nLicense: GPL-3+\n\nFiles: a/*\nLicense: CC-BY-SA-4.0\n\nLicense: GPL-3+\n Full text.\n");
        File.WriteAllText(Path.Combine(dir, RealMediaPackages.ListFile),
            $"[{{\"name\": \"{Package}\", \"version\": \"3.1-2\", \"deb\": \"{Package}_3.1-2_all.deb\", \"sha256\": \"ab\"}}]");
        return dir;
    });

    static readonly Lazy<(string Dir, RealMediaManifest Manifest)> Built = new(() =>
    {
        var dir = Path.Combine(TestSetup.TempDir("real-media-set"), "set");
        return (dir, RealMediaComposer.Compose(Assets.Value, dir, Tiny));
    });

    static IEnumerable<string> Files(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f)).Order(StringComparer.Ordinal);

    [Fact]
    public void The_set_is_a_class_folder_per_split_with_the_three_matched_classes()
    {
        var (dir, _) = Built.Value;
        var classes = RealMediaCatalog.ClassesOf(Tiny.Pairing).Select(c => c.Name).ToList();
        Assert.Equal(["animal", "music", "object-noise"], classes);
        Assert.Equal(classes, File.ReadAllLines(Path.Combine(dir, "classes.txt")));
        foreach (var (split, count) in new[] { ("train", 2), ("test", 1) })
        {
            Assert.Equal(classes, Directory.GetDirectories(Path.Combine(dir, split)).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            foreach (var c in classes) Assert.Equal(count, Directory.GetFiles(Path.Combine(dir, split, c), "*.mp4").Length);
        }
    }

    [Fact]
    public void Classes_dir_reads_it_with_each_videos_class_as_its_label()
    {
        var (dir, manifest) = Built.Value;
        foreach (var split in new[] { "train", "test" })
        {
            var source = SourceLoader.Open($"classes:{dir}", split);
            Assert.Equal(RealMediaCatalog.ClassesOf(Tiny.Pairing).Select(c => c.Name), source.ClassNames);
            Assert.Equal(manifest.Videos.Count(v => v.Split == split), source.Items.Count);
            foreach (var item in source.Items)
                Assert.Equal(Path.GetFileName(Path.GetDirectoryName(item.Path)), source.ClassNames[Assert.Single(item.Labels)]);
        }
    }

    [Fact]
    public void No_picture_sound_or_cut_of_one_recording_is_in_both_splits()
    {
        var (_, m) = Built.Value;
        var splitsOfAsset = m.Videos.SelectMany(v => new[] { (v.Picture, v.Split), (v.Sound, v.Split) })
                             .GroupBy(x => x.Item1).ToDictionary(g => g.Key, g => g.Select(x => x.Split).Distinct().Count());
        Assert.All(splitsOfAsset, kv => Assert.Equal(1, kv.Value));
        // Both splits are used, and every asset's recorded split is that of its videos.
        Assert.Equal(["test", "train"], m.Videos.Select(v => v.Split).Distinct().Order(StringComparer.Ordinal));
        foreach (var v in m.Videos)
            Assert.All(new[] { v.Picture, v.Sound }, id => Assert.Equal(v.Split, m.Assets.Single(a => a.Id == id).Split));
        // The two cuts of one factory recording are one item (one split); the left-out files are not assets.
        var cuts = m.Assets.Where(a => a.Id.Contains("LRFactory_noise")).ToList();
        Assert.Equal(2, cuts.Count);
        Assert.Single(cuts.Select(a => a.Item).Distinct());
        Assert.Single(cuts.Select(a => a.Split).Distinct());
        Assert.DoesNotContain(m.Assets, a => a.Id.Contains("LRWeird") || a.Id.Contains("background.svg"));
        // A farm animal's photo and its call share an item, so they share a split.
        Assert.Equal(m.Assets.Single(a => a.Id.EndsWith("cow.webp")).Split, m.Assets.Single(a => a.Id.EndsWith("cow.ogg")).Split);
    }

    [Fact]
    public void Matched_classes_play_a_sound_that_belongs_to_the_picture()
    {
        var (_, m) = Built.Value;
        var kindOfSound = new Dictionary<string, string> { ["animal"] = "animal", ["music"] = "music", ["object"] = "noise" };
        foreach (var v in m.Videos)
        {
            var c = m.Classes.Single(x => x.Name == v.Class);
            var picture = m.Assets.Single(a => a.Id == v.Picture).Category;
            Assert.Equal(c.Picture, picture);
            Assert.Equal(c.Sound, m.Assets.Single(a => a.Id == v.Sound).Category);
            Assert.Equal(kindOfSound[picture], c.Sound);
        }
        // A subject's own sound comes with its picture first.
        Assert.Contains(m.Videos, v => v.Class == "animal" && (v.Picture.EndsWith("cow.webp") && v.Sound.EndsWith("cow.ogg")
                                                              || v.Picture.EndsWith("pig.webp") && v.Sound.EndsWith("pig.ogg")));
        Assert.Contains(m.Videos, v => v.Class == "music" && (v.Picture.EndsWith("violin.svg") && v.Sound.EndsWith("violin.ogg")
                                                             || v.Picture.EndsWith("drum.svg") && v.Sound.EndsWith("drum.ogg")));
    }

    [Fact]
    public void Crossed_classes_are_every_picture_kind_with_every_kind_of_sound()
    {
        var crossed = Tiny with { Pairing = RealMediaPairing.Crossed };
        var classes = RealMediaCatalog.ClassesOf(crossed.Pairing);
        Assert.Equal(9, classes.Count);
        Assert.Equal(9, classes.Select(c => (c.Picture, c.Sound)).Distinct().Count());
        var assets = RealMediaCatalog.Find(Assets.Value);
        var videos = RealMediaPlan.Make(assets, _ => 2, crossed).Videos;
        Assert.Equal(9 * 3, videos.Count);
        foreach (var v in videos)
        {
            var c = classes.Single(x => x.Name == v.Class);
            Assert.Equal((c.Picture, c.Sound), (v.Picture.Category, v.Sound.Category));
        }
        // Off the diagonal nothing pairs a subject with its own sound; the defaults give 360 + 144 videos either way.
        Assert.DoesNotContain(videos, v => v.Picture.Category != v.Sound.Category && v.Picture.Item == v.Sound.Item);
        var crossedDefaults = new RealMediaOptions { Pairing = RealMediaPairing.Crossed };
        Assert.Equal((360, 144), (9 * crossedDefaults.TrainPerClass, 9 * crossedDefaults.TestPerClass));
        Assert.Equal((360, 144), (3 * new RealMediaOptions().TrainPerClass, 3 * new RealMediaOptions().TestPerClass));
    }

    [Fact]
    public void The_manifest_lists_the_package_its_version_and_licences_and_each_assets_credit()
    {
        var (dir, _) = Built.Value;
        var m = RealMediaManifest.Read(dir);
        var p = Assert.Single(m.Packages);
        Assert.Equal(("gcompris-qt-data", "3.1-2"), (p.Name, p.Version));
        Assert.Equal(["CC-BY-SA-4.0", "GPL-3+"], p.Licences);
        var cow = m.Assets.Single(a => a.Id.EndsWith("cow.webp"));
        Assert.Equal(new AssetCredit("A. Farmer", "CC0-1.0", "https://example.org/cow"), cow.Credit);
        Assert.Equal("GPLv3", m.Assets.Single(a => a.Id.EndsWith("pig.ogg")).Credit?.Licence);
        var md = File.ReadAllText(Path.Combine(dir, RealMediaManifest.MarkdownFileName));
        Assert.Contains("| gcompris-qt-data | 3.1-2 | CC-BY-SA-4.0, GPL-3+ |", md);
    }

    [Fact]
    public void Videos_have_the_length_size_and_mono_sound_asked_for()
    {
        var (dir, m) = Built.Value;
        // One from a sound shorter than the video (repeated) and one from a longer sound (a segment).
        foreach (var v in new[] { m.Videos.First(x => x.Sound.EndsWith("cow.ogg")), m.Videos.First(x => x.Sound.EndsWith("violin.ogg")) })
        {
            var info = MediaProbe.Probe(Path.Combine(dir, v.Path));
            Assert.InRange(info.DurationSeconds, Tiny.Seconds - 0.1, Tiny.Seconds + 0.1);
            Assert.Equal((Tiny.Width, Tiny.Height), (info.Video!.Width, info.Video.Height));
            Assert.Equal((44100, 1), (info.Audio!.SampleRate, info.Audio.Channels));
            var secondHalf = AudioDecoder.Decode(Path.Combine(dir, v.Path), Tiny.Seconds / 2, Tiny.Seconds / 2 - 0.1, 44100);
            Assert.True(secondHalf.Max(Math.Abs) > 0.05, $"{v.Path}: silent second half");
        }
        Assert.All(m.Videos.Where(v => v.Sound.EndsWith("violin.ogg")), v => Assert.InRange(v.SoundStart, 0, 3 - Tiny.Seconds));
    }

    [Fact]
    public void Two_builds_give_the_same_files_and_manifest()
    {
        var (first, _) = Built.Value;
        var second = Path.Combine(TestSetup.TempDir("real-media-again"), "set");
        RealMediaComposer.Compose(Assets.Value, second, Tiny);
        Assert.Equal(Files(first), Files(second));
        // Everything but the videos byte for byte; the videos' sound exactly, and their pictures to within encoder noise:
        // one video's frames were seen to differ in a few frames by a few levels (PSNR 59 dB) between two builds of the same
        // plan on a busy machine, so pictures are held to ≥ 45 dB against each other (another picture or move is < 20 dB).
        Assert.All(Files(first).Where(f => !f.EndsWith(".mp4")), f => Assert.Equal(File.ReadAllBytes(Path.Combine(first, f)), File.ReadAllBytes(Path.Combine(second, f))));
        Assert.All(Files(first).Where(f => f.EndsWith(".mp4")), f =>
        {
            Assert.Equal(Md5(Path.Combine(first, f), "0:a"), Md5(Path.Combine(second, f), "0:a"));
            Assert.True(Psnr(Path.Combine(first, f), Path.Combine(second, f)) >= 45, f);
        });
        // Another seed is another set.
        var assets = RealMediaCatalog.Find(Assets.Value);
        var videos = RealMediaPlan.Make(assets, _ => 2, Tiny).Videos;
        Assert.Equal(videos, RealMediaPlan.Make(assets, _ => 2, Tiny).Videos);
        Assert.NotEqual(videos, RealMediaPlan.Make(assets, _ => 2, Tiny with { Seed = 1 }).Videos);
    }

    /// <summary>The MD5 of one decoded stream of a video (FFmpeg's md5 muxer).</summary>
    static string Md5(string file, string stream) => Ffmpeg(["-nostdin", "-v", "error", "-i", file, "-map", stream, "-f", "md5", "-"]).Output.Trim();

    /// <summary>The average PSNR (dB) of two videos' pictures, frame by frame; +∞ when identical.</summary>
    static double Psnr(string a, string b)
    {
        var log = Ffmpeg(["-nostdin", "-v", "info", "-i", a, "-i", b, "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"]).Error;
        var m = System.Text.RegularExpressions.Regex.Match(log, @"PSNR .*average:(inf|[0-9.]+)");
        Assert.True(m.Success, log);
        return m.Groups[1].Value == "inf" ? double.PositiveInfinity : double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    static (string Output, string Error) Ffmpeg(string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return (output, err.Result);
    }
}
