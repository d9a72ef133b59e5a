using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runtime;

/// <summary>
/// Peak GPU memory from libtorch's CUDA caching allocator (what PyTorch's <c>torch.cuda.max_memory_allocated</c> and
/// <c>max_memory_reserved</c> report), which TorchSharp 0.107 does not expose: <c>at::accelerator::getDeviceStats</c> and
/// <c>resetPeakStats</c>, called through <see cref="LibTorchExports.TryExport"/>. libtorch 2.10 has them only inline in
/// its headers (not exported); later libtorch builds export them. Fails safe: on the CPU, without CUDA, or where the
/// exports are missing or the statistics do not read back sanely, <see cref="Unavailable"/> says why and nothing is called.
/// </summary>
public static unsafe class DeviceMemory
{
    /// <summary>Peak bytes the allocator handed out (tensors) and held from the driver (tensors + cache).</summary>
    public sealed record Peak(long AllocatedBytes, long ReservedBytes);

    // c10::CachingDeviceAllocator::DeviceStats starts with nine StatArrays (std::array<Stat, 3>, Stat = {current, peak,
    // allocated, freed} as int64): allocation, segment, active, inactive_split, allocated_bytes, reserved_bytes, ...
    // Index 0 of each array is the aggregate over the small and large pools.
    const int StatBytes = 4 * 8, StatArrayBytes = 3 * StatBytes;
    const int AllocatedBytesOffset = 4 * StatArrayBytes, ReservedBytesOffset = 5 * StatArrayBytes;
    const int StatsBufferBytes = 8192;   // the struct is about 1 KB; room for fields later versions append

    sealed record Exports(IntPtr GetDeviceStats, IntPtr ResetPeakStats, IntPtr GetDeviceIndex, string? Missing);

    static readonly Lazy<Exports> Symbols = new(() =>
    {
        var missing = new List<string>();
        IntPtr Find(string mangled, string readable)
        {
            if (LibTorchExports.TryExport(mangled, out var p)) return p;
            missing.Add(readable);
            return IntPtr.Zero;
        }
        var stats = Find("_ZN2at11accelerator14getDeviceStatsEa", "at::accelerator::getDeviceStats");
        var reset = Find("_ZN2at11accelerator14resetPeakStatsEa", "at::accelerator::resetPeakStats");
        var index = Find("_ZN2at11accelerator14getDeviceIndexEv", "at::accelerator::getDeviceIndex");
        return new Exports(stats, reset, index, missing.Count == 0 ? null : $"this libtorch does not export {string.Join(", ", missing)}");
    });

    /// <summary>Why the allocator statistics of <paramref name="device"/> cannot be read (null when they can).</summary>
    public static string? Unavailable(Device device)
    {
        if (device.type != DeviceType.CUDA) return "not a CUDA device";
        if (!cuda.is_available()) return "CUDA is not available";
        return Symbols.Value.Missing;
    }

    /// <summary>Restarts the peaks at the current values; false (and nothing called) when unavailable.</summary>
    public static bool ResetPeak(Device device)
    {
        if (Unavailable(device) is not null) return false;
        ((delegate* unmanaged<sbyte, void>)Symbols.Value.ResetPeakStats)(Index(device));
        return true;
    }

    /// <summary>The peaks since the start or the last <see cref="ResetPeak"/>; null when unavailable (see <paramref name="why"/>).</summary>
    public static Peak? ReadPeak(Device device, out string? why)
    {
        why = Unavailable(device);
        if (why is not null) return null;
        // Returned by value: the caller passes the memory for the struct (x86-64 System V, hidden first argument).
        var buffer = (byte*)NativeMemory.AllocZeroed(StatsBufferBytes);
        try
        {
            ((delegate* unmanaged<byte*, sbyte, byte*>)Symbols.Value.GetDeviceStats)(buffer, Index(device));
            long Read(int offset) => *(long*)(buffer + offset);
            long allocatedNow = Read(AllocatedBytesOffset), allocatedPeak = Read(AllocatedBytesOffset + 8);
            long reservedNow = Read(ReservedBytesOffset), reservedPeak = Read(ReservedBytesOffset + 8);
            bool sane = allocatedNow >= 0 && allocatedPeak >= allocatedNow && reservedNow >= allocatedNow && reservedPeak >= reservedNow &&
                        reservedPeak >= allocatedPeak;
            if (!sane)
            {
                why = "the allocator statistics did not read back in the expected layout";
                return null;
            }
            return new Peak(allocatedPeak, reservedPeak);
        }
        finally { NativeMemory.Free(buffer); }
    }

    /// <summary>"allocated 12.34 GiB, reserved 13.00 GiB (CUDA caching allocator)", or "unavailable (why)".</summary>
    public static string Describe(Device device) => ReadPeak(device, out var why) is { } p
        ? $"allocated {Gib(p.AllocatedBytes)}, reserved {Gib(p.ReservedBytes)} (CUDA caching allocator)"
        : $"unavailable ({why})";

    static string Gib(long bytes) => $"{bytes / (1024.0 * 1024 * 1024):0.00} GiB";

    static sbyte Index(Device device) =>
        device.index >= 0 ? (sbyte)device.index : ((delegate* unmanaged<sbyte>)Symbols.Value.GetDeviceIndex)();
}
