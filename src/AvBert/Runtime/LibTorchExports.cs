using System.Runtime.InteropServices;

namespace AvBert.Runtime;

/// <summary>
/// libtorch functions TorchSharp 0.107 does not wrap, called directly from the loaded <c>libtorch_cpu.so</c> by their
/// exported (Itanium-mangled) C++ names: autocast (<c>at::autocast::set_autocast_enabled(c10::DeviceType, bool)</c>,
/// <c>set_autocast_dtype</c>, <c>increment/decrement_nesting</c>, <c>clear_cache</c>) and
/// <c>at::globalContext().setBenchmarkCuDNN(bool)</c>. The symbols are looked up once (<see cref="Probe"/>); where a
/// libtorch lacks one, the feature reports itself unavailable and callers fall back (checked against libtorch 2.10).
/// </summary>
public static unsafe class LibTorchExports
{
    // c10::DeviceType and c10::ScalarType are int8 enums.
    public const sbyte DeviceCpu = 0, DeviceCuda = 1;
    public const sbyte ScalarBFloat16 = 15, ScalarFloat16 = 5;

    static bool _probed;
    static delegate* unmanaged<sbyte, byte, void> _setAutocastEnabled;
    static delegate* unmanaged<sbyte, byte> _isAutocastEnabled;
    static delegate* unmanaged<sbyte, sbyte, void> _setAutocastDtype;
    static delegate* unmanaged<int> _incrementNesting;
    static delegate* unmanaged<int> _decrementNesting;
    static delegate* unmanaged<void> _clearCache;
    static delegate* unmanaged<IntPtr> _globalContext;
    static delegate* unmanaged<IntPtr, byte, void> _setBenchmarkCuDnn;

    /// <summary>Why the exports are missing (null when all were found).</summary>
    public static string? Missing { get; private set; }

    public static bool AutocastAvailable { get { Probe(); return _setAutocastEnabled != null && _isAutocastEnabled != null && _setAutocastDtype != null && _incrementNesting != null && _decrementNesting != null && _clearCache != null; } }
    public static bool CuDnnBenchmarkAvailable { get { Probe(); return _globalContext != null && _setBenchmarkCuDnn != null; } }

    /// <summary>The libtorch_cpu.so this process loaded (dlopen returns the same handle), opened once for every lookup here
    /// and in <see cref="LibTorchContext"/>; Zero where it cannot be opened.</summary>
    static readonly Lazy<(IntPtr Handle, string Path)> Library = new(() =>
    {
        var dir = TorchRuntime.LoadedLibTorch(); // also makes sure libtorch is loaded
        var path = dir is null ? "libtorch_cpu.so" : Path.Combine(dir, "libtorch_cpu.so");
        return (NativeLibrary.TryLoad(path, out var lib) ? lib : IntPtr.Zero, path);
    });

    /// <summary>The address of the exported (mangled) C++ symbol in the loaded libtorch.</summary>
    internal static bool TryExport(string mangled, out IntPtr address)
    {
        address = IntPtr.Zero;
        return Library.Value.Handle != IntPtr.Zero && NativeLibrary.TryGetExport(Library.Value.Handle, mangled, out address);
    }

    /// <summary>Finds the exports in the libtorch this process loaded (once).</summary>
    public static void Probe()
    {
        if (_probed) return;
        _probed = true;
        var path = Library.Value.Path;
        if (Library.Value.Handle == IntPtr.Zero)
        {
            Missing = $"{path} could not be opened";
            return;
        }
        var missing = new List<string>();
        IntPtr Find(string mangled, string readable)
        {
            if (TryExport(mangled, out var p)) return p;
            missing.Add(readable);
            return IntPtr.Zero;
        }
        _setAutocastEnabled = (delegate* unmanaged<sbyte, byte, void>)Find("_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb", "at::autocast::set_autocast_enabled");
        _isAutocastEnabled = (delegate* unmanaged<sbyte, byte>)Find("_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE", "at::autocast::is_autocast_enabled");
        _setAutocastDtype = (delegate* unmanaged<sbyte, sbyte, void>)Find("_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE", "at::autocast::set_autocast_dtype");
        _incrementNesting = (delegate* unmanaged<int>)Find("_ZN2at8autocast17increment_nestingEv", "at::autocast::increment_nesting");
        _decrementNesting = (delegate* unmanaged<int>)Find("_ZN2at8autocast17decrement_nestingEv", "at::autocast::decrement_nesting");
        _clearCache = (delegate* unmanaged<void>)Find("_ZN2at8autocast11clear_cacheEv", "at::autocast::clear_cache");
        _globalContext = (delegate* unmanaged<IntPtr>)Find("_ZN2at13globalContextEv", "at::globalContext");
        _setBenchmarkCuDnn = (delegate* unmanaged<IntPtr, byte, void>)Find("_ZN2at7Context17setBenchmarkCuDNNEb", "at::Context::setBenchmarkCuDNN");
        if (missing.Count > 0) Missing = $"{path} does not export {string.Join(", ", missing)}";
    }

    public static bool IsAutocastEnabled(sbyte device) => AutocastAvailable && _isAutocastEnabled(device) != 0;

    /// <summary>Enters an autocast region (as <c>torch.autocast(device, dtype)</c>'s __enter__); returns the previous (enabled, nesting) to restore.</summary>
    internal static bool EnterAutocast(sbyte device, sbyte dtype)
    {
        bool previous = _isAutocastEnabled(device) != 0;
        _setAutocastEnabled(device, 1);
        _setAutocastDtype(device, dtype);
        _incrementNesting();
        return previous;
    }

    /// <summary>Leaves an autocast region: the cast cache is cleared when the outermost region ends.</summary>
    internal static void ExitAutocast(sbyte device, bool previous)
    {
        if (_decrementNesting() == 0) _clearCache();
        _setAutocastEnabled(device, previous ? (byte)1 : (byte)0);
    }

    /// <summary>Turns autocast off (or back on) on this thread without touching the nesting (as <c>torch.autocast(enabled=False)</c>).</summary>
    internal static bool SetAutocastEnabled(sbyte device, bool enabled)
    {
        bool previous = _isAutocastEnabled(device) != 0;
        _setAutocastEnabled(device, enabled ? (byte)1 : (byte)0);
        return previous;
    }

    /// <summary>cudnn.benchmark: let cuDNN time its algorithms for each new input shape and keep the fastest.</summary>
    public static bool SetCuDnnBenchmark(bool on)
    {
        if (!CuDnnBenchmarkAvailable) return false;
        _setBenchmarkCuDnn(_globalContext(), on ? (byte)1 : (byte)0);
        return true;
    }
}
