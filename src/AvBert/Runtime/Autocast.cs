using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runtime;

/// <summary>
/// Automatic mixed precision regions (PyTorch's <c>torch.autocast</c>) through <see cref="LibTorchExports"/>: inside a
/// region, libtorch runs matmuls and convolutions in the region's dtype and keeps precision-sensitive ops (softmax,
/// losses, norms) in float32. Regions are per thread, like PyTorch's. Where the exports are missing,
/// <see cref="Available"/> is false and callers run in float32.
/// </summary>
public static class Autocast
{
    public static bool Available => LibTorchExports.AutocastAvailable;

    static sbyte DeviceCode(Device device) => device.type switch
    {
        DeviceType.CPU => LibTorchExports.DeviceCpu,
        DeviceType.CUDA => LibTorchExports.DeviceCuda,
        _ => throw new ArgumentException($"autocast: unsupported device {device}"),
    };

    static sbyte DtypeCode(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => LibTorchExports.ScalarBFloat16,
        _ => throw new ArgumentException($"autocast: unsupported dtype {dtype} (bfloat16 only)"),
    };

    /// <summary>Whether an autocast region is active on this thread for <paramref name="device"/>.</summary>
    public static bool IsEnabled(Device device) => Available && LibTorchExports.IsAutocastEnabled(DeviceCode(device));

    /// <summary>Starts a region on <paramref name="device"/> computing in <paramref name="dtype"/> until disposed.</summary>
    public static IDisposable Enter(Device device, ScalarType dtype)
    {
        if (!Available) throw new InvalidOperationException($"autocast is not available: {LibTorchExports.Missing}");
        var code = DeviceCode(device);
        bool previous = LibTorchExports.EnterAutocast(code, DtypeCode(dtype));
        return new Scope(() => LibTorchExports.ExitAutocast(code, previous));
    }

    /// <summary>
    /// Float32 inside an autocast region until disposed (as <c>torch.autocast(enabled=False)</c>): for parts that must
    /// stay exact (orthogonal maps, losses). A no-op outside a region. Cast bf16 inputs to float32 yourself.
    /// </summary>
    public static IDisposable Disabled(Device device)
    {
        if (!IsEnabled(device)) return Scope.None;
        var code = DeviceCode(device);
        bool previous = LibTorchExports.SetAutocastEnabled(code, false);
        return new Scope(() => LibTorchExports.SetAutocastEnabled(code, previous));
    }

    sealed class Scope(Action? exit) : IDisposable
    {
        public static readonly Scope None = new(null);
        Action? _exit = exit;
        public void Dispose()
        {
            _exit?.Invoke();
            _exit = null;
        }
    }
}
