using System.Runtime.InteropServices;

namespace AvBert.Runtime;

/// <summary>
/// What TorchSharp 0.107 does not say about a CUDA device: its compute capability (torch.cuda.get_device_capability),
/// read from the CUDA driver (<c>libcuda.so.1</c>, present wherever a GPU driver is; libtorch has initialised it by the
/// time a model is on the device). Null where the driver cannot be loaded or answers with an error.
/// </summary>
public static unsafe class CudaDevice
{
    const int AttributeComputeCapabilityMajor = 75, AttributeComputeCapabilityMinor = 76;   // CUdevice_attribute

    sealed record Driver(IntPtr Init, IntPtr DeviceGet, IntPtr GetAttribute);

    static readonly Lazy<Driver?> Api = new(() =>
    {
        if (!NativeLibrary.TryLoad("libcuda.so.1", out var lib)) return null;
        return NativeLibrary.TryGetExport(lib, "cuInit", out var init) && NativeLibrary.TryGetExport(lib, "cuDeviceGet", out var get) &&
               NativeLibrary.TryGetExport(lib, "cuDeviceGetAttribute", out var attr)
            ? new Driver(init, get, attr)
            : null;
    });

    /// <summary>(major, minor) of device <paramref name="ordinal"/>, e.g. (7, 0) for a V100, (9, 0) for an H100; null if unknown.</summary>
    public static (int Major, int Minor)? ComputeCapability(int ordinal)
    {
        if (Api.Value is not { } api) return null;
        if (((delegate* unmanaged<uint, int>)api.Init)(0) != 0) return null;
        int device, major, minor;
        if (((delegate* unmanaged<int*, int, int>)api.DeviceGet)(&device, ordinal) != 0) return null;
        var get = (delegate* unmanaged<int*, int, int, int>)api.GetAttribute;
        if (get(&major, AttributeComputeCapabilityMajor, device) != 0 || get(&minor, AttributeComputeCapabilityMinor, device) != 0) return null;
        return (major, minor);
    }
}
