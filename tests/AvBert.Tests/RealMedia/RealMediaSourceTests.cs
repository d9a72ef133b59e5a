using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using AvBert.RealMedia;
using AvBert.Runtime;

namespace AvBert.Tests.RealMedia;

/// <summary>The pieces of the real-media set that need no FFmpeg: Qt resource archives, the data spec, package licences.</summary>
public class RealMediaSourceTests
{
    /// <summary>A format-3 Qt resource archive written byte by byte as rcc lays it out: a folder "sounds" holding a
    /// zlib-compressed and a stored file.</summary>
    static byte[] Archive(byte[] compressed, byte[] stored)
    {
        static byte[] Be32(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); return b; }
        static byte[] Be16(int v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); return b; }
        var names = new MemoryStream();
        int Name(string n)
        {
            int at = (int)names.Length;
            names.Write(Be16(n.Length)); names.Write(Be32(0)); names.Write(Encoding.BigEndianUnicode.GetBytes(n));
            return at;
        }
        var data = new MemoryStream();
        int Data(byte[] payload)
        {
            int at = (int)data.Length;
            data.Write(Be32(payload.Length)); data.Write(payload);
            return at;
        }
        var z = new MemoryStream();
        z.Write(Be32(compressed.Length));
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(compressed);
        int dataA = Data(z.ToArray()), dataB = Data(stored);
        int nameDir = Name("sounds"), nameA = Name("a.ogg"), nameB = Name("b.txt");
        var tree = new MemoryStream();
        void Node(int name, int flags, int x, int y, bool folder)
        {
            tree.Write(Be32(name)); tree.Write(Be16(flags));
            if (folder) { tree.Write(Be32(x)); tree.Write(Be32(y)); }
            else { tree.Write(Be16(0)); tree.Write(Be16(0)); tree.Write(Be32(y)); }
            tree.Write(new byte[8]); // modification time (format 2+)
        }
        Node(0, 2, 1, 1, folder: true);         // root: one child, node 1
        Node(nameDir, 2, 2, 2, folder: true);   // sounds/: two children from node 2
        Node(nameA, 1, 0, dataA, folder: false); // zlib
        Node(nameB, 0, 0, dataB, folder: false); // stored
        int header = 24, dataAt = header, namesAt = dataAt + (int)data.Length, treeAt = namesAt + (int)names.Length;
        var file = new MemoryStream();
        file.Write("qres"u8); file.Write(Be32(3)); file.Write(Be32(treeAt)); file.Write(Be32(dataAt)); file.Write(Be32(namesAt)); file.Write(Be32(0));
        file.Write(data.ToArray()); file.Write(names.ToArray()); file.Write(tree.ToArray());
        return file.ToArray();
    }

    [Fact]
    public void A_qt_resource_archive_expands_into_its_files()
    {
        var dir = TestSetup.TempDir("rcc");
        var moo = Enumerable.Range(0, 5000).Select(i => (byte)(i % 7)).ToArray();
        File.WriteAllBytes(Path.Combine(dir, "farm.rcc"), Archive(moo, "credits"u8.ToArray()));
        var entries = QtResourceArchive.Read(Path.Combine(dir, "farm.rcc"));
        Assert.Equal(["sounds/a.ogg", "sounds/b.txt"], entries.Select(e => e.Path));
        Assert.Equal(moo, entries[0].Content);
        RealMediaPackages.ExpandArchives(dir, ["farm"]);
        Assert.Equal(moo, File.ReadAllBytes(Path.Combine(dir, "farm", "sounds", "a.ogg")));
        Assert.Equal("credits", File.ReadAllText(Path.Combine(dir, "farm", "sounds", "b.txt")));
    }

    [Fact]
    public void A_file_that_is_not_an_archive_is_refused()
    {
        var path = Path.Combine(TestSetup.TempDir("rcc-bad"), "x.rcc");
        File.WriteAllText(path, "not an archive at all");
        Assert.Throws<InvalidDataException>(() => QtResourceArchive.Read(path));
    }

    [Fact]
    public void The_real_spec_takes_counts_seed_and_length()
    {
        Assert.True(RealMediaSet.IsSpec("real", out var plain));
        Assert.Equal(new RealMediaOptions(), plain);
        Assert.True(RealMediaSet.IsSpec("real:train=80, test=20,seed=3,seconds=4.5", out var o));
        Assert.Equal((80, 20, 3, 4.5, RealMediaPairing.Matched), (o.TrainPerClass, o.TestPerClass, o.Seed, o.Seconds, o.Pairing));
        Assert.True(RealMediaSet.IsSpec("real:pairing=crossed,seed=2", out var crossed));
        Assert.Equal((RealMediaPairing.Crossed, 40, 16, 2), (crossed.Pairing, crossed.TrainPerClass, crossed.TestPerClass, crossed.Seed));
        Assert.False(RealMediaSet.IsSpec("realistic/videos", out _));
        Assert.False(RealMediaSet.IsSpec("classes:real", out _));
    }

    [Theory]
    [InlineData("real:frames=3")]
    [InlineData("real:train=many")]
    [InlineData("real:train=2.5")]
    [InlineData("real:test=0")]
    [InlineData("real:pairing=diagonal")]
    [InlineData("real:pairing=1")]
    public void A_bad_real_spec_is_one_line_naming_it(string spec)
    {
        var e = Assert.ThrowsAny<UserError>(() => RealMediaSet.IsSpec(spec, out _));
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Licences_are_the_distinct_license_fields_of_the_copyright_file()
    {
        var path = Path.Combine(TestSetup.TempDir("copyright"), "copyright");
        File.WriteAllText(path, "Files: *\nLicense: GPL-3+\n\nFiles: img/*\nLicense: CC0-1.0\n\nLicense: GPL-3+\n text\n");
        Assert.Equal(["CC0-1.0", "GPL-3+"], RealMediaPackages.Licences(path));
        Assert.Empty(RealMediaPackages.Licences(path + ".missing"));
    }
}
