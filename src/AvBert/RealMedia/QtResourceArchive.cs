using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace AvBert.RealMedia;

/// <summary>One file of a Qt resource archive: its path inside the archive and its (uncompressed) bytes.</summary>
public sealed record QtResourceEntry(string Path, byte[] Content);

/// <summary>
/// Reads Qt binary resource archives (<c>.rcc</c>, format versions 1–3, as <c>rcc -binary</c> writes them), the form
/// GCompris ships its activities' pictures and sounds in. Layout (all integers big-endian): "qres", version, tree offset,
/// data offset, names offset[, flags]. The tree is an array of nodes (14 bytes; 22 from version 2, with a modification
/// time): name offset (4), flags (2: 1 = zlib, 2 = folder, 4 = zstd), then for a folder child count (4) and first child
/// index (4), for a file locale (4) and data offset (4). A name is length (2), hash (4), UTF-16BE characters; a file's
/// data is size (4) then the bytes, which for zlib start with the uncompressed size (4) (Qt's qCompress).
/// </summary>
public static class QtResourceArchive
{
    const int FlagZlib = 1, FlagFolder = 2, FlagZstd = 4;

    /// <summary>Every file of the archive at <paramref name="path"/>, in tree order (folders in their stored, sorted order).</summary>
    public static IReadOnlyList<QtResourceEntry> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 20 || Encoding.ASCII.GetString(bytes, 0, 4) != "qres")
            throw new InvalidDataException($"{path}: not a Qt resource archive (no 'qres' header)");
        int version = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4));
        if (version is < 1 or > 3) throw new InvalidDataException($"{path}: Qt resource format version {version} is not supported (1..3)");
        int tree = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8));
        int data = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(12));
        int names = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16));
        int nodeSize = version >= 2 ? 22 : 14;
        var entries = new List<QtResourceEntry>();
        Walk(0, "");
        return entries;

        void Walk(int node, string prefix)
        {
            var s = bytes.AsSpan();
            int at = tree + node * nodeSize;
            if (at < 0 || at + 14 > bytes.Length) throw new InvalidDataException($"{path}: resource tree node {node} lies outside the file");
            int flags = BinaryPrimitives.ReadUInt16BigEndian(s[(at + 4)..]);
            string name = node == 0 ? "" : Name(BinaryPrimitives.ReadInt32BigEndian(s[at..]));
            string full = node == 0 ? "" : prefix.Length == 0 ? name : prefix + "/" + name;
            if ((flags & FlagFolder) != 0)
            {
                int count = BinaryPrimitives.ReadInt32BigEndian(s[(at + 6)..]);
                int first = BinaryPrimitives.ReadInt32BigEndian(s[(at + 10)..]);
                for (int i = 0; i < count; i++) Walk(first + i, full);
                return;
            }
            int offset = data + BinaryPrimitives.ReadInt32BigEndian(s[(at + 10)..]);
            int size = BinaryPrimitives.ReadInt32BigEndian(s[offset..]);
            var payload = s.Slice(offset + 4, size);
            byte[] content;
            if ((flags & FlagZlib) != 0)
            {
                using var z = new ZLibStream(new MemoryStream(payload[4..].ToArray()), CompressionMode.Decompress);
                using var m = new MemoryStream(BinaryPrimitives.ReadInt32BigEndian(payload));
                z.CopyTo(m);
                content = m.ToArray();
            }
            else if ((flags & FlagZstd) != 0)
                throw new InvalidDataException($"{path}: {full} is zstd-compressed, which this reader does not decode");
            else content = payload.ToArray();
            entries.Add(new QtResourceEntry(full, content));
        }

        string Name(int offset)
        {
            var s = bytes.AsSpan();
            int at = names + offset;
            int length = BinaryPrimitives.ReadUInt16BigEndian(s[at..]);
            return Encoding.BigEndianUnicode.GetString(bytes, at + 6, 2 * length);
        }
    }
}
