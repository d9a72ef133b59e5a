using System.Runtime.Intrinsics.X86;

namespace AvBert.Runtime;

/// <summary>
/// What the CPU says about its data caches through the CPUID leaves oneDNN's CPU detection (Xbyak) reads: the
/// deterministic cache parameters, leaf 4 on Intel and leaf 0x8000001D on AMD. Some virtual machines answer those leaves
/// with zeros (seen on a KVM "AMD EPYC" of family 26, whose <c>lscpu</c> lists no cache sizes and which has no
/// <c>/sys/devices/system/cpu/cpu0/cache/</c>); oneDNN then believes the L1 and L2 caches hold 0 bytes, and its blocking
/// heuristics divide by quantities derived from them: the paper-size model's backward convolutions die of SIGFPE
/// (docs/cpu-correctness.md). <see cref="Describe"/> says so up front in <c>avbert info</c>.
/// </summary>
public sealed record CpuCacheTopology(string Vendor, bool Hidden, long L1DataBytes, long L2Bytes, string Leaf)
{
    /// <summary>Reads this machine's CPUID; null off x86-64.</summary>
    public static CpuCacheTopology? Read()
    {
        if (!X86Base.IsSupported) return null;
        var (maxLeaf, b, c, d) = X86Base.CpuId(0, 0);
        var vendor = VendorName(b, d, c);
        bool amd = vendor is "AuthenticAMD" or "HygonGenuine";
        int leaf = amd ? unchecked((int)0x8000001D) : 4;
        bool reachable = amd ? (uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax >= 0x8000001D : maxLeaf >= 4;
        var levels = new Dictionary<int, long>();
        if (reachable)
            for (int sub = 0; sub < 16; sub++)
            {
                var (ea, eb, ec, _) = X86Base.CpuId(leaf, sub);
                int type = ea & 0x1f;              // 0: no more caches; 1 data, 2 instruction, 3 unified
                if (type == 0) break;
                if (type == 2) continue;
                int level = (ea >> 5) & 0x7;
                long ways = ((eb >> 22) & 0x3ff) + 1, partitions = ((eb >> 12) & 0x3ff) + 1, line = (eb & 0xfff) + 1, sets = (long)(uint)ec + 1;
                levels[level] = ways * partitions * line * sets;
            }
        long l1 = levels.GetValueOrDefault(1), l2 = levels.GetValueOrDefault(2);
        return new CpuCacheTopology(vendor, l1 == 0 || l2 == 0, l1, l2, amd ? "CPUID 0x8000001D" : "CPUID 4");
    }

    static string VendorName(int b, int d, int c)
    {
        Span<byte> bytes = stackalloc byte[12];
        BitConverter.TryWriteBytes(bytes[..4], b);
        BitConverter.TryWriteBytes(bytes[4..8], d);
        BitConverter.TryWriteBytes(bytes[8..], c);
        return System.Text.Encoding.ASCII.GetString(bytes);
    }

    /// <summary>One line for <c>avbert info</c>.</summary>
    public string Describe() => Hidden
        ? $"hidden: {Leaf} reports no L1/L2 data cache sizes (a VM that hides its cache topology); oneDNN's blocking heuristics " +
          "divide by them, so some of its convolution kernels crash or compute wrongly here: oneDNN starts capped at SSE4.1 (no brgemm kernels) and the self-check checks it (docs/cpu-correctness.md)"
        : $"L1d {L1DataBytes / 1024} KiB, L2 {L2Bytes / 1024} KiB per core ({Leaf})";
}
