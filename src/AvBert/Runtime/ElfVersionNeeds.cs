using System.Text;

namespace AvBert.Runtime;

/// <summary>One entry of an ELF file's <c>.gnu.version_r</c> table: "this library needs VERSION of FILE".</summary>
public sealed record ElfVersionNeed(string File, string Version, ushort Flags, long FlagsOffset)
{
    public const ushort WeakFlag = 0x2; // VER_FLG_WEAK
    public bool IsWeak => (Flags & WeakFlag) != 0;
}

/// <summary>
/// Reads and edits the version-need table (<c>.gnu.version_r</c>) of a 64-bit little-endian ELF shared object.
/// Used to make libLibTorchSharp.so loadable on systems whose libstdc++ predates GCC 13 (see <see cref="NativeLibraryFix"/>).
/// </summary>
public static class ElfVersionNeeds
{
    const uint ShtGnuVerneed = 0x6ffffffe;

    public static IReadOnlyList<ElfVersionNeed> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return Parse(bytes, path);
    }

    /// <summary>Marks every need of <paramref name="version"/> weak. Returns how many entries changed (0 when already weak: idempotent).</summary>
    public static int MarkWeak(string path, string version)
    {
        var needs = Read(path).Where(n => n.Version == version && !n.IsWeak).ToList();
        if (needs.Count == 0) return 0;
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        foreach (var n in needs)
        {
            fs.Position = n.FlagsOffset;
            var flags = (ushort)(n.Flags | ElfVersionNeed.WeakFlag);
            fs.Write(BitConverter.GetBytes(flags));
        }
        fs.Flush(true);
        return needs.Count;
    }

    static IReadOnlyList<ElfVersionNeed> Parse(byte[] b, string path)
    {
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
            throw new InvalidDataException($"{path}: not an ELF file");
        if (b[4] != 2 || b[5] != 1)
            throw new InvalidDataException($"{path}: only 64-bit little-endian ELF is supported");
        long shoff = BitConverter.ToInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A);
        int shnum = BitConverter.ToUInt16(b, 0x3C);
        var result = new List<ElfVersionNeed>();
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            uint type = BitConverter.ToUInt32(b, (int)sh + 4);
            if (type != ShtGnuVerneed) continue;
            long offset = BitConverter.ToInt64(b, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(b, (int)sh + 0x28);
            uint count = BitConverter.ToUInt32(b, (int)sh + 0x2C); // sh_info = number of Verneed entries
            long strSh = shoff + (long)link * shentsize;
            long strOff = BitConverter.ToInt64(b, (int)strSh + 0x18);

            long vn = offset;
            for (uint k = 0; k < count; k++)
            {
                ushort cnt = BitConverter.ToUInt16(b, (int)vn + 2);
                uint fileName = BitConverter.ToUInt32(b, (int)vn + 4);
                uint aux = BitConverter.ToUInt32(b, (int)vn + 8);
                uint next = BitConverter.ToUInt32(b, (int)vn + 12);
                string file = CString(b, strOff + fileName);
                long va = vn + aux;
                for (int j = 0; j < cnt; j++)
                {
                    ushort flags = BitConverter.ToUInt16(b, (int)va + 4);
                    uint name = BitConverter.ToUInt32(b, (int)va + 8);
                    uint vnaNext = BitConverter.ToUInt32(b, (int)va + 12);
                    result.Add(new ElfVersionNeed(file, CString(b, strOff + name), flags, va + 4));
                    if (vnaNext == 0) break;
                    va += vnaNext;
                }
                if (next == 0) break;
                vn += next;
            }
        }
        return result;
    }

    static string CString(byte[] b, long at)
    {
        int end = (int)at;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)at, end - (int)at);
    }
}
