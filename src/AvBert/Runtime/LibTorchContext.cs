using System.Runtime.InteropServices;

namespace AvBert.Runtime;

/// <summary>
/// Switches in libtorch's global context (<c>at::globalContext()</c>) that TorchSharp does not expose: whether ATen may
/// use oneDNN (mkldnn) and NNPACK. Reached through the C++ symbols libtorch_cpu.so exports (Itanium ABI, x86-64 Linux);
/// <see cref="Available"/> is false where they cannot be found (another platform, a stripped libtorch).
/// </summary>
public static class LibTorchContext
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate IntPtr GlobalContextFn();
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate void SetFlagFn(IntPtr context, byte value);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate byte GetFlagFn(IntPtr context);

    sealed record Flag(SetFlagFn Set, GetFlagFn Get);

    static readonly Lazy<(IntPtr Context, Flag? Mkldnn, Flag? Nnpack)> Symbols = new(Resolve);

    /// <summary>The global context and both switches were found.</summary>
    public static bool Available => Symbols.Value.Mkldnn is not null && Symbols.Value.Nnpack is not null;

    /// <summary>ATen may run convolutions (and other ops) with oneDNN (<c>at::Context::userEnabledMkldnn</c>; on by default).</summary>
    public static bool OneDnnEnabled
    {
        get => Read(Symbols.Value.Mkldnn, nameof(OneDnnEnabled));
        set => Write(Symbols.Value.Mkldnn, value, nameof(OneDnnEnabled));
    }

    /// <summary>ATen may try NNPACK for convolutions (<c>at::Context::userEnabledNNPACK</c>; on by default).</summary>
    public static bool NnpackEnabled
    {
        get => Read(Symbols.Value.Nnpack, nameof(NnpackEnabled));
        set => Write(Symbols.Value.Nnpack, value, nameof(NnpackEnabled));
    }

    static bool Read(Flag? flag, string name) =>
        flag is null ? throw Missing(name) : flag.Get(Symbols.Value.Context) != 0;

    static void Write(Flag? flag, bool value, string name)
    {
        if (flag is null) throw Missing(name);
        flag.Set(Symbols.Value.Context, value ? (byte)1 : (byte)0);
    }

    static InvalidOperationException Missing(string name) =>
        new($"libtorch's global context ({name}) is not reachable: libtorch_cpu.so does not export the at::Context symbols");

    static (IntPtr, Flag?, Flag?) Resolve()
    {
        if (!LibTorchExports.TryExport("_ZN2at13globalContextEv", out var globalContext)) return (IntPtr.Zero, null, null);
        var context = Marshal.GetDelegateForFunctionPointer<GlobalContextFn>(globalContext)();
        Flag? Find(string set, string get) =>
            LibTorchExports.TryExport(set, out var s) && LibTorchExports.TryExport(get, out var g)
                ? new Flag(Marshal.GetDelegateForFunctionPointer<SetFlagFn>(s), Marshal.GetDelegateForFunctionPointer<GetFlagFn>(g))
                : null;
        return (context,
                Find("_ZN2at7Context20setUserEnabledMkldnnEb", "_ZNK2at7Context17userEnabledMkldnnEv"),
                Find("_ZN2at7Context20setUserEnabledNNPACKEb", "_ZNK2at7Context17userEnabledNNPACKEv"));
    }
}
