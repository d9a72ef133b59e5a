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
        ScalarType.Float16 => LibTorchExports.ScalarFloat16,
        _ => throw new ArgumentException($"autocast: unsupported dtype {dtype} (bfloat16 and float16 only)"),
    };

    // The dtype of the innermost region this thread entered, per device (libtorch keeps it too, but does not export a getter).
    [ThreadStatic] static Dictionary<DeviceType, ScalarType>? dtypes;

    /// <summary>The dtype an active region on this thread computes in for <paramref name="device"/>; null outside a region
    /// (or inside <see cref="Disabled"/>). Activation checkpointing recomputes under it.</summary>
    public static ScalarType? ActiveDtype(Device device) =>
        IsEnabled(device) && dtypes is not null && dtypes.TryGetValue(device.type, out var d) ? d : null;

    /// <summary>Whether an autocast region is active on this thread for <paramref name="device"/>.</summary>
    public static bool IsEnabled(Device device) => Available && LibTorchExports.IsAutocastEnabled(DeviceCode(device));

    /// <summary>Starts a region on <paramref name="device"/> computing in <paramref name="dtype"/> until disposed.</summary>
    public static IDisposable Enter(Device device, ScalarType dtype)
    {
        if (!Available) throw new InvalidOperationException($"autocast is not available: {LibTorchExports.Missing}");
        var code = DeviceCode(device);
        bool previous = LibTorchExports.EnterAutocast(code, DtypeCode(dtype));
        dtypes ??= [];
        bool had = dtypes.TryGetValue(device.type, out var outer);
        dtypes[device.type] = dtype;
        return new Scope(() =>
        {
            LibTorchExports.ExitAutocast(code, previous);
            if (had) dtypes[device.type] = outer;
            else dtypes.Remove(device.type);
        });
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
